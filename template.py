"""Writes the project's CloudFormation templates into ``build/`` (troposphere).

- ``build/macro.yaml``: the macro stack for ``sam build`` / ``sam deploy``;
- ``build/macro-stackset.yaml``: the same macro as plain CloudFormation, its code
  in S3, for StackSets (service-managed StackSets reject transforms);
- ``build/example.yaml``: an application stack that uses the transform.

Run ``python template.py [OUTDIR]`` (``make build``). ``tests/test_templates.py``
compares the output with ``tests/snapshots/``; ``make snapshots`` rewrites those.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from private_s3_processor.access import role, trust
from private_s3_processor.checkov import skips
from private_s3_processor.guard import MACRO_LOG_RETENTION, metadata, suppressions
from private_s3_processor.resource import PrivateS3Processor
from private_s3_processor.rules import LOG_RETENTION_DAYS, TYPE_NAME
from private_s3_processor.schema import registry_schema
from private_s3_processor.version import __version__
from troposphere import (
    Equals,
    GetAtt,
    If,
    Output,
    Parameter,
    Ref,
    Sub,
    Template,
    awslambda,
    cloudformation,
    logs,
    serverless,
)

HANDLER = "private_s3_processor.handler.lambda_handler"
RUNTIME = "python3.13"
# Relative to build/macro.yaml, where SAM resolves it: the macro package and its
# requirements.txt, which `sam build` installs beside it.
CODE_URI = "../macros"
FUNCTION_DESCRIPTION = "CloudFormation macro PrivateS3Processor: expands Type: PrivateS3Processor"
# The one architecture built and import-tested here (DESIGN.md, "The macro stack"):
# `sam build`, `make bundle` and the bundle test all produce and run x86_64.
ARCHITECTURE = "x86_64"
# Where `make release` (tools/release.py) names its zips and the StackSet template looks
# for them: the version and the architecture in the name, so a key read by a StackSet
# never silently serves another release or another architecture's bundle.
CODE_PREFIX = "private-s3-processor"


def bundle_name(architecture: str = ARCHITECTURE, version: str = __version__) -> str:
    """The release zip of the macro built for ``architecture``."""
    return f"private-s3-processor-macro-{version}-{architecture}.zip"


def code_key(architecture: str = ARCHITECTURE, version: str = __version__) -> str:
    """The S3 key the StackSet template reads by default: ``<prefix>/<version>/<zip>``."""
    return f"{CODE_PREFIX}/{version}/{bundle_name(architecture, version)}"


# `sam publish` reads this Metadata key (AWS SAM Developer Guide, "AWS SAM template
# Metadata section properties"): Name, Description and Author are required; no intrinsic
# functions; LicenseUrl and ReadmeUrl may be local paths (relative to build/macro.yaml)
# until `sam package` uploads them and writes their S3 URIs, which `sam publish` needs.
# SemanticVersion is required to share the application publicly. Author: 1-127 of
# [a-z0-9-]; Labels: at most 10, each [a-zA-Z0-9+\-_:/@]{1,127}; Description: 1-256.
SERVERLESS_REPO = "AWS::ServerlessRepo::Application"


def serverless_repo_metadata(version: str = __version__) -> dict[str, Any]:
    return {
        "Name": "private-s3-processor-macro",
        "Description": "CloudFormation macro PrivateS3Processor: one compact resource becomes a "
        "private S3 -> EventBridge -> Fargate pipeline (no internet path, VPC endpoints only).",
        "Author": "private-s3-processor",
        "SpdxLicenseId": "Apache-2.0",
        "LicenseUrl": "../LICENSE",
        "ReadmeUrl": "../README.md",
        "Labels": ["cloudformation-macro", "s3", "eventbridge", "fargate", "privatelink"],
        "SemanticVersion": version,
    }


def _retention(template: Template) -> Parameter:
    return template.add_parameter(
        Parameter(
            "LogRetentionInDays",
            Type="Number",
            Default=30,
            AllowedValues=list(LOG_RETENTION_DAYS),
            Description="Days to keep the macro function's and the macro's logs",
        )
    )


def _common(template: Template, function_id: str) -> dict[str, Any]:
    """Log groups and roles shared by both macro stacks; returns what the function needs."""
    retention = _retention(template)
    function_logs = template.add_resource(
        logs.LogGroup(
            "MacroFunctionLogGroup", RetentionInDays=Ref(retention), Metadata=_log_group_metadata()
        )
    )
    macro_logs = template.add_resource(
        logs.LogGroup(
            "MacroLogGroup", RetentionInDays=Ref(retention), Metadata=_log_group_metadata()
        )
    )
    own_account = {"StringEquals": {"aws:SourceAccount": Ref("AWS::AccountId")}}
    function_role = template.add_resource(
        role(
            "MacroFunctionRole",
            trust("lambda.amazonaws.com", own_account),
            "expand",
            [
                {
                    "Sid": "WriteOwnLogs",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": GetAtt(function_logs, "Arn"),
                },
                # No CloudFormation attribute gives S3's prefix list; the macro looks it up.
                # The action has no resource-level form: "*".
                {
                    "Sid": "LookUpS3PrefixList",
                    "Effect": "Allow",
                    "Action": "ec2:DescribeManagedPrefixLists",
                    "Resource": "*",
                },
            ],
            {},
        )
    )
    log_role = template.add_resource(
        role(
            "MacroLogRole",
            trust("cloudformation.amazonaws.com", own_account),
            "macro-logs",
            [
                {
                    "Effect": "Allow",
                    "Action": [
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ],
                    "Resource": GetAtt(macro_logs, "Arn"),
                },
            ],
            {},
        )
    )
    template.add_resource(
        cloudformation.Macro(
            "Macro",
            Name=TYPE_NAME,
            Description="Expands Type: PrivateS3Processor into a private S3 -> EventBridge -> "
            "Fargate pipeline",
            FunctionName=GetAtt(function_id, "Arn"),
            LogGroupName=Ref(macro_logs),
            LogRoleARN=GetAtt(log_role, "Arn"),
        )
    )
    template.add_output(
        Output("MacroName", Value=TYPE_NAME, Description="Use it as Transform: PrivateS3Processor")
    )
    template.add_output(Output("FunctionArn", Value=GetAtt(function_id, "Arn")))
    return {"role": GetAtt(function_role, "Arn"), "logs": Ref(function_logs)}


def _function_settings() -> dict[str, Any]:
    return {
        "Handler": HANDLER,
        "Runtime": RUNTIME,
        "Description": FUNCTION_DESCRIPTION,
        # CloudFormation waits for the answer; one expansion takes milliseconds.
        "Timeout": 30,
        "MemorySize": 512,
    }


def macro_template() -> Template:
    """The macro stack as a SAM template (``sam build`` bundles the dependencies)."""
    t = Template(Description="private-s3-processor: the PrivateS3Processor CloudFormation macro")
    t.set_transform("AWS::Serverless-2016-10-31")
    t.set_metadata({SERVERLESS_REPO: serverless_repo_metadata()})
    common = _common(t, "MacroFunction")
    t.add_resource(
        serverless.Function(
            "MacroFunction",
            CodeUri=CODE_URI,
            Architectures=[ARCHITECTURE],
            Role=common["role"],
            LoggingConfig=awslambda.LoggingConfig(LogGroup=common["logs"]),
            **_function_settings(),
            Metadata=_function_metadata(),
        )
    )
    return t


def stackset_template(architecture: str = ARCHITECTURE) -> Template:
    """The macro stack as plain CloudFormation for StackSets: code from S3, by default the
    release zip of this version built for ``architecture`` (``make release``)."""
    t = Template(
        Description="private-s3-processor: the PrivateS3Processor macro, for StackSets "
        "(code from an S3 bucket in each Region)"
    )
    bucket = t.add_parameter(
        Parameter(
            "CodeBucket",
            Type="String",
            Description="Bucket holding the macro bundle. Lambda reads code only from a bucket in "
            "the function's own Region, so with AppendRegion=true the bucket used is "
            "<CodeBucket>-<region> (one per Region, each readable by the organization)",
        )
    )
    append = t.add_parameter(
        Parameter(
            "AppendRegion",
            Type="String",
            Default="true",
            AllowedValues=["true", "false"],
            Description="Append -<region> to CodeBucket",
        )
    )
    key = t.add_parameter(
        Parameter(
            "CodeKey",
            Type="String",
            Default=code_key(architecture),
            Description=f"Key of the macro bundle (zip) built for {architecture}; the default "
            "is where the README uploads `make release`'s zip",
        )
    )
    t.add_condition("UseRegionalBucket", Equals(Ref(append), "true"))
    common = _common(t, "MacroFunction")
    t.add_resource(
        awslambda.Function(
            "MacroFunction",
            Code=awslambda.Code(
                S3Bucket=If("UseRegionalBucket", Sub("${CodeBucket}-${AWS::Region}"), Ref(bucket)),
                S3Key=Ref(key),
            ),
            Architectures=[architecture],
            Role=common["role"],
            LoggingConfig=awslambda.LoggingConfig(LogGroup=common["logs"]),
            **_function_settings(),
            Metadata=_function_metadata(),
        )
    )
    return t


def _log_group_metadata() -> dict[str, Any]:
    """The macro's log groups: the Logs service key; retention from a parameter."""
    return metadata(
        skips("CKV_AWS_158"),
        suppressions(
            "cloudwatch_log_group_encrypted_check",
            "cloudwatch_log_group_retention_period_check",
            reasons={"cloudwatch_log_group_retention_period_check": MACRO_LOG_RETENTION},
        ),
    )


def _function_metadata() -> dict[str, Any]:
    # SAM passes Metadata on to the AWS::Lambda::Function it generates, where Control
    # Tower's rules read it (tests/test_guard.py checks the SAM-transformed macro stack).
    return metadata(
        skips("CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"),
        suppressions("lambda_inside_vpc_check"),
    )


def example_template() -> Template:
    """An application stack that uses the transform."""
    t = Template(
        Description="private-s3-processor example: each CSV uploaded under the prefix "
        "starts a private Fargate task"
    )
    t.set_transform(TYPE_NAME)
    image = t.add_parameter(
        Parameter(
            "WorkerImage",
            Type="String",
            Description="Worker image in Amazon ECR (the network has no internet), "
            "e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:1.0",
        )
    )
    prefix = t.add_parameter(
        Parameter(
            "Prefix", Type="String", Default="inbound/", Description="Key prefix that triggers"
        )
    )
    suffix = t.add_parameter(
        Parameter("Suffix", Type="String", Default=".csv", Description="Key suffix that triggers")
    )
    mode = t.add_parameter(
        Parameter(
            "Mode",
            Type="String",
            Default="Production",
            AllowedValues=["Production", "Test"],
            Description="Test: the container only echoes what it received, then sleeps",
        )
    )
    processor = t.add_resource(
        PrivateS3Processor(
            "Invoices",
            Image=Ref(image),
            Prefix=Ref(prefix),
            Suffix=Ref(suffix),
            Mode=Ref(mode),
            OutputPrefix="processed/",
            # The shipped worker image's user, stated: a user's own image gets a
            # non-root user the same way (README, "The image").
            User="10001",
        )
    )
    t.add_output(Output("Bucket", Value=Ref(processor), Description="Upload here"))
    t.add_output(Output("Rule", Value=GetAtt(processor, "RuleArn")))
    t.add_output(
        Output(
            "DeadLetterQueue",
            Value=GetAtt(processor, "DeadLetterQueueUrl"),
            Description="Launches EventBridge could not make",
        )
    )
    t.add_output(Output("LogGroup", Value=GetAtt(processor, "LogGroupName")))
    t.add_output(
        Output("UploadCommand", Value=Sub("aws s3 cp FILE s3://${Invoices}/${Prefix}FILE${Suffix}"))
    )
    return t


TEMPLATES = {
    "macro.yaml": macro_template,
    "macro-stackset.yaml": stackset_template,
    "example.yaml": example_template,
}
# For `cfn-lint TEMPLATE --registry-schemas build/cfn-lint-schemas` before the transform.
SCHEMA = "cfn-lint-schemas/privates3processor.json"


def render() -> dict[str, str]:
    """Every file ``build/`` receives, by path relative to it."""
    files = {name: make().to_yaml(clean_up=True) for name, make in TEMPLATES.items()}
    files[SCHEMA] = json.dumps(registry_schema(), indent=2) + "\n"
    return files


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent / "build"
    out.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        # Whole or not at all: whatever reads build/ meanwhile (`sam build`, `local`, a
        # test on another core) sees the old file or the new one, never half of one.
        target = out / name
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
        print(out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
