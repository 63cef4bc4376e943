"""The Batch API (Tencent Cloud API v3, version 2017-03-12) at `POST /` and `GET /`."""
