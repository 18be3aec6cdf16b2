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
DELIVERY_MODES = ("Direct", "Orchestrated")

# Interface endpoints by set. Fargate platform 1.4 pulls images through ecr.api and
# ecr.dkr (layers come from S3 through the gateway endpoint) and ships logs through
# logs; ecs and ecs-telemetry serve the ECS agent's own channels (ECS Exec, metrics).
INTERFACE_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "Minimal": ("ecr.api", "ecr.dkr", "logs"),
    "All": ("ecr.api", "ecr.dkr", "ecs", "ecs-telemetry", "logs"),
}

# Container environment the transform owns; a user's Environment may not set these.
RESERVED_ENVIRONMENT = (
    "S3_BUCKET",
    "S3_KEY",
    "S3_SIZE",
    "S3_ETAG",
    "S3_VERSION_ID",
    "OUTPUT_PREFIX",
)

# Worker exit codes that are outcomes, not failures: processed, skipped (already done),
# gone (deleted or overwritten since the event). The worker's ExitCode; a test pins them.
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


# Delivery: Orchestrated. Launch failures (RunTask answering failures[], throttling,
# ECS service errors) are retried with capped exponential backoff and full jitter;
# the worst case waits 2+4+8+16+32+60 = 122 s over 7 attempts before dead-lettering.
# Step Functions names a non-empty failures[] "AmazonECS.Unknown" and ECS API errors
# "ECS.<Exception>" (throttling arrives as ECS.AmazonECSException).
LAUNCH_ERRORS = (
    "AmazonECS.Unknown",
    "ECS.AmazonECSException",
    "ECS.ThrottlingException",
    "ECS.ServerException",
    "ECS.SdkClientException",
)
LAUNCH_RETRY = {
    "IntervalSeconds": 2,
    "BackoffRate": 2.0,
    "MaxAttempts": 6,
    "MaxDelaySeconds": 60,
    "JitterStrategy": "FULL",
}
