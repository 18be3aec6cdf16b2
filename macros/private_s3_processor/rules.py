"""Facts from the AWS documentation that validation and expansion rely on."""

from __future__ import annotations

# Fargate task sizes: CPU units -> the memory values (MiB) allowed with it.
CPU_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

MODES = ("Production", "Test")
ARCHITECTURES = ("X86_64", "ARM64")
ENDPOINT_SETS = ("All", "Minimal")
DELIVERY_MODES = ("Direct", "Orchestrated", "Queued")
# KmsScope: what KmsKeyArn encrypts besides the bucket (All: the queues and log groups).
KMS_SCOPES = ("Bucket", "All")

# Interface endpoints by set. Fargate platform 1.4 pulls images through ecr.api and
# ecr.dkr (layers come from S3 through the gateway endpoint) and ships logs through
# logs; ecs and ecs-telemetry serve the ECS agent's own channels (ECS Exec, metrics).
INTERFACE_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "Minimal": ("ecr.api", "ecr.dkr", "logs"),
    "All": ("ecr.api", "ecr.dkr", "ecs", "ecs-telemetry", "logs"),
}
# The order endpoints are listed in (and their logical IDs generated in): a set's own,
# then those a delivery mode or KmsKeyArn adds.
ENDPOINT_ORDER = ("ecr.api", "ecr.dkr", "ecs", "ecs-telemetry", "logs", "sqs", "kms")

# Container environment the transform owns; a user's Environment may not set these.
RESERVED_ENVIRONMENT = (
    "S3_BUCKET",
    "S3_KEY",
    "S3_SIZE",
    "S3_ETAG",
    "S3_VERSION_ID",
    "OUTPUT_PREFIX",
    "QUEUE_URL",
    "QUEUE_CONCURRENCY",
    "QUEUE_VISIBILITY_TIMEOUT",
    "QUEUE_STOP_TIMEOUT",
)

# Worker exit codes that are outcomes, not failures: processed, skipped (already done),
# gone (deleted or overwritten since the event). The worker's ExitCode; a test pins them.
# Every other code is a failure, 66 (unknown key: EventBridge changed it in transit)
# included: the upload is dead-lettered for redrive, never counted as done.
NON_FAILURE_EXIT_CODES = (0, 10, 11)
# ECS stop codes of a task that never did its work.
FAILURE_STOP_CODES = ("TaskFailedToStart", "SpotInterruption", "TerminationNotice")

# ECS RunTask rejects overrides longer than this (characters of the JSON).
MAX_OVERRIDES_CHARS = 8192
MAX_KEY_BYTES = 1024

# The attributes `!GetAtt Processor.<Attr>` offers; see references.py for targets.
TYPE_NAME = "PrivateS3Processor"


def memory_choices(cpu: int) -> tuple[int, ...]:
    return CPU_MEMORY[cpu]


def smallest_memory(cpu: int) -> int:
    return CPU_MEMORY[cpu][0]


# Delivery: Orchestrated. A launch that did not give the worker a chance to run is
# retried; the state machine counts every such retry against one budget (delivery/workflow.py):
# LAUNCH_RETRIES retries, the n-th waiting a whole number of seconds drawn uniformly
# from 0 to LAUNCH_DELAYS_S[n] (capped exponential backoff with full jitter), so the
# worst case waits 2+4+8+16+32+60 = 122 s over 7 attempts before dead-lettering.
LAUNCH_FIRST_DELAY_S = 2
LAUNCH_BACKOFF_RATE = 2
LAUNCH_MAX_DELAY_S = 60
LAUNCH_RETRIES = 6
LAUNCH_DELAYS_S = tuple(
    min(LAUNCH_FIRST_DELAY_S * LAUNCH_BACKOFF_RATE**n, LAUNCH_MAX_DELAY_S)
    for n in range(LAUNCH_RETRIES)
)

# What counts as a launch problem. With .sync, "if a non-empty Failures field is
# encountered, the task is failed with an AmazonECS.Unknown error" (Step Functions
# developer guide, "Run Amazon ECS or Fargate tasks with Step Functions"); ECS API errors
# arrive as "ECS.<Exception>", throttling of RunTask itself as ECS.AmazonECSException
# "Rate exceeded" (AWS re:Post knowledge center, "ecs-fargate-runtask-capacity";
# AllenInstitute/neuron_morphology#151).
LAUNCH_ERRORS = (
    "AmazonECS.Unknown",
    "ECS.AmazonECSException",
    "ECS.ThrottlingException",
    "ECS.ServerException",
    "ECS.SdkClientException",
)
# A task that RunTask accepted but that never started: .sync fails with
# States.TaskFailed and the stopped task (DescribeTasks, PascalCase) as the cause, with
# StopCode "TaskFailedToStart" and no container ExitCode; StoppedReason says why
# (ResourceInitializationError, CannotPullContainerError, ENI or capacity errors). ECS API
# reference, Task.stopCode; ECS developer guide, "Amazon ECS stopped task error codes".
LAUNCH_STOP_CODE = "TaskFailedToStart"
# ECS looks up the subnets and security groups with EC2 while it answers RunTask; when
# EC2 throttles that look-up, ECS answers InvalidParameterException (Step Functions:
# "ECS.InvalidParameterException") with the throttling only in the message. Public
# reports: cdklabs/construct-hub#415 ("When ECS gets throttled when trying to obtain
# security group information, it results in a ECS.InvalidParameterException error in
# StepFunctions, with an error message that mentions the throttle event");
# dagster-io/dagster#33439 ("Error retrieving subnet information for [subnet-...]: Rate
# exceeded (ErrorCode: Throttling)"); aws-solutions/distributed-load-testing-on-aws#41
# and dask/dask-cloudprovider#56 ("Error retrieving security group information for
# [sg-...]: Request limit exceeded. (ErrorCode: RequestLimitExceeded)"). Those causes are
# retried; any other InvalidParameterException is a real mistake and is dead-lettered.
INVALID_PARAMETER_ERROR = "ECS.InvalidParameterException"
THROTTLED_CAUSES = (
    "*Rate exceeded*",
    "*Request limit exceeded*",
    "*RequestLimitExceeded*",
    "*ErrorCode: Throttling*",
)


# --- The dead-letter queue and its alarms. ---

# The queue keeps a message the longest SQS allows: MessageRetentionPeriod "from 60
# (1 minute) to 1,209,600 (14 days)" (SQS API reference, SetQueueAttributes). A message
# of a standard queue expires by its original enqueue time (SQS developer guide, "Setting
# up dead-letter queue retention"); EventBridge, the failure rule and the state machine
# write to the queue directly (SendMessage), so that is when the upload was dead-lettered,
# and it does not restart when the stack is deleted or when redrive reads and keeps it.
DEAD_LETTER_RETENTION_S = 14 * 24 * 3600

# With AlarmTopicArn, besides the alarm on the first message: an alarm on AWS/SQS
# ApproximateAgeOfOldestMessage, the age in seconds of the oldest message in the queue
# (SQS developer guide, "Available CloudWatch metrics for Amazon SQS"). The first alarm
# fires once and stays in ALARM while messages wait, so it says nothing when the oldest
# one nears expiry; this one does. At 7 days the oldest upload has 7 more before SQS
# deletes it unread: a full week, a weekend and a public holiday included, to fix the
# cause and run redrive. Half the retention rather than a day before it: a notification
# read late, or an outage that needs a deploy, still leaves days. The same page: a
# message of a standard queue received three times or more and not deleted drops out of
# this metric (redrive receives every message it keeps), so the first alarm stays the
# one that always covers every message.
DEAD_LETTER_AGE_ALARM_S = 7 * 24 * 3600
# Maximum over one hour: the age only grows while a message waits, so an hour's period
# delays the notification by about an hour at most, out of the week's margin.
DEAD_LETTER_AGE_PERIOD_S = 3600


# --- Limits AWS enforces at deploy time, refused by the transform first (SPEC 14). ---
# Each names its source; DESIGN.md ("Limits refused before AWS does") lists them.

# CloudFormation quotas, https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/
# cloudformation-limits.html: "Resources" 500 per template, "Resource name" 255
# characters, "Template body size in an Amazon S3 object" 1 MB. A processed template must
# fit the same size (template-macros-troubleshoot-processed-template.html, "Size
# limitation"); 1 MB is read as 1,000,000 bytes, as cfn-lint reads it (E1002).
MAX_RESOURCES = 500
MAX_LOGICAL_ID_CHARS = 255
MAX_TEMPLATE_BYTES = 1_000_000

# IAM and AWS STS quotas, https://docs.aws.amazon.com/IAM/latest/UserGuide/
# reference_iam-quotas.html: "Role policy size cannot exceed 10,240 characters" (the
# aggregate of a role's inline policies; IAM does not count white space).
MAX_ROLE_INLINE_POLICY_CHARS = 10_240

# Amazon EventBridge quotas, https://docs.aws.amazon.com/eventbridge/latest/userguide/
# eb-quota.html: "Event pattern size" 2,048 characters by default, adjustable; PutRule's
# EventPattern accepts at most 4,096 (API reference, Length Constraints), so that is the
# hard limit and the default quota is a warning. "Rules containing wildcards": 30 rules
# per event bus, not adjustable.
MAX_EVENT_PATTERN_CHARS = 4096
DEFAULT_EVENT_PATTERN_QUOTA = 2048
MAX_WILDCARD_RULES = 30
# EventBridge answers "Rule is too complex" for wildcard patterns without publishing the
# threshold. Its matcher, aws/event-ruler, scores a pattern by the most wildcard states a
# worst-case value can hold at once (MachineComplexityEvaluator); repeated characters
# after a "*" raise it. The event-ruler README's per-rule strategy pairs a per-rule bound
# of 10 with 30 wildcard rules, the quota above: the transform keeps each rule at 10.
MAX_WILDCARD_COMPLEXITY = 10

# Descriptions: EC2 CreateSecurityGroup GroupDescription and AuthorizeSecurityGroup*
# rule Description, "Up to 255 characters in length" (EC2 API reference); EventBridge
# PutRule Description, "Maximum length of 512"; CloudWatch PutMetricAlarm
# AlarmDescription, "Maximum length of 1024".
MAX_DESCRIPTION_CHARS = {
    ("AWS::EC2::SecurityGroup", "GroupDescription"): 255,
    ("AWS::EC2::SecurityGroupIngress", "Description"): 255,
    ("AWS::EC2::SecurityGroupEgress", "Description"): 255,
    ("AWS::Events::Rule", "Description"): 512,
    ("AWS::CloudWatch::Alarm", "AlarmDescription"): 1024,
}

# Tags, ECS/AWS tagging restrictions (https://docs.aws.amazon.com/AmazonECS/latest/
# APIReference/API_Tag.html): 50 user tags per resource, keys 1-128 and values 0-256
# Unicode characters; letters, numbers, spaces and + - = . _ : / @; "aws:" reserved.
MAX_TAGS = 50
MAX_TAG_KEY_CHARS = 128
MAX_TAG_VALUE_CHARS = 256
TAG_SYMBOLS = "+-=._:/@"

# General purpose bucket naming rules, https://docs.aws.amazon.com/AmazonS3/latest/
# userguide/bucketnamingrules.html.
BUCKET_NAME_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_NAME_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")

# Not an AWS limit: real templates nest intrinsics a few levels deep, and a bound keeps a
# hostile template from exhausting the Lambda's stack (Python's recursion limit is 1,000
# frames; copying and walking take several per level).
MAX_NESTING_DEPTH = 100


# --- Delivery: Queued (delivery/queued.py). ---

# Ranges of the Queued properties (properties.py) and where each bound comes from.
# MaxTasks 1-1000, the project's bound: the scale-out policy then needs 11 step
# adjustments (queued.scale_out_steps), within Application Auto Scaling's "Step adjustments
# per step scaling policy" quota of 20 (Application Auto Scaling User Guide, "Quotas for
# Application Auto Scaling"), and 1000 x 64 messages in flight stay under the 120,000
# in-flight messages a standard queue allows (SQS Developer Guide, "Amazon SQS message
# quotas").
MAX_TASKS_RANGE = (1, 1000)
# Concurrency 1-64: objects one worker task holds at once; the project's bound (a 0.25 vCPU
# task gains nothing from more, and see MAX_TASKS_RANGE for the in-flight limit).
CONCURRENCY_RANGE = (1, 64)
# IdleSeconds 60-3600, whole minutes: the idle alarm counts 60-second periods (SQS
# publishes its metrics "at one-minute intervals", SQS Developer Guide, "Monitoring Amazon
# SQS queues using CloudWatch"), and an alarm whose period is under an hour may look back
# at most one day, Period x EvaluationPeriods <= 86,400 s (CloudWatch API reference,
# PutMetricAlarm, Period). An hour is the project's upper bound.
IDLE_SECONDS_RANGE = (60, 3600)
ALARM_PERIOD_S = 60
MAX_ALARM_LOOKBACK_S = 86_400
# maxReceiveCount 1-1000 (SQS Developer Guide, "Using dead-letter queues in Amazon SQS":
# the redrive policy's maxReceiveCount is 1 to 1,000).
MAX_RECEIVE_COUNT_RANGE = (1, 1000)
# VisibilityTimeout 0-43,200 s, 12 hours (SQS API reference, SetQueueAttributes). 30 s is
# the project's floor: the worker extends a message's visibility while it works on it,
# and a shorter timeout leaves its heartbeat no margin.
VISIBILITY_TIMEOUT_RANGE = (30, 43_200)
QUEUED_DEFAULTS = {
    "MaxTasks": 10,
    "Concurrency": 4,
    "IdleSeconds": 300,
    "MaxReceiveCount": 5,
    "VisibilityTimeoutSeconds": 300,
}
# A message of a standard queue keeps its original enqueue time when the redrive policy
# moves it to the dead-letter queue, and expires by it there (SQS Developer Guide,
# "Setting up dead-letter queue retention"). The processing queue keeps a message 4 days
# (SQS's default), so a message dead-lettered at the last moment still has 10 of the
# dead-letter queue's 14 days; a backlog older than 4 days is lost unread (README).
QUEUE_RETENTION_S = 4 * 24 * 3600
# With AlarmTopicArn, a Queued processor's oldest message waiting a day raises an alarm:
# a quarter of the queue's retention, three days before SQS would delete it unread (no
# worker starts: a broken image, a quota, a deleted subnet; nothing else reports it,
# since a message never received is never dead-lettered).
QUEUE_AGE_ALARM_S = QUEUE_RETENTION_S // 4
# Long polling: ReceiveMessageWaitTimeSeconds 0-20 (SQS API reference, SetQueueAttributes).
QUEUE_RECEIVE_WAIT_S = 20
# "For tasks that use the Fargate launch type, the max stop timeout value is 120 seconds"
# (ECS API reference, ContainerDefinition, stopTimeout): the most a worker gets after
# SIGTERM to finish or release what it holds.
FARGATE_MAX_STOP_TIMEOUT_S = 120
# Seconds before a scaling policy acts again (Application Auto Scaling, Cooldown;
# default 300): one alarm period.
SCALING_COOLDOWN_S = 60
# Application Auto Scaling's quota, see MAX_TASKS_RANGE.
MAX_STEP_ADJUSTMENTS = 20
# Interface endpoints a Queued processor's tasks need besides their Endpoints set: sqs for
# the queue, and ecs for task scale-in protection. The worker asks the ECS agent
# ($ECS_AGENT_URI/task-protection/v1/state), and the agent calls UpdateTaskProtection with
# the task role's credentials (aws/amazon-ecs-agent#3397, #3411); on Fargate platform 1.4.0
# and later "all network traffic flows through [the task ENI] within your VPC" (ECS
# Developer Guide, "Migrating to Linux platform version 1.4.0"), so without the ecs
# endpoint the call has no way out of the private network.
QUEUED_INTERFACE_ENDPOINTS = ("sqs", "ecs")
