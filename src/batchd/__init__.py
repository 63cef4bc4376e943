"""batchd: self-hosted batch computing speaking the Tencent Cloud Batch and CMQ protocols."""

__version__ = "0.1.0"
