"""The ``private-s3-processor`` command line."""
