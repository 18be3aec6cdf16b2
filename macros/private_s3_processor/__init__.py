"""The PrivateS3Processor CloudFormation macro: validation and expansion."""

from .context import Context, ec2_prefix_list, static_prefix_list
from .errors import ExpansionError
from .expand import expand

__all__ = ["Context", "ExpansionError", "ec2_prefix_list", "expand", "static_prefix_list"]
