"""The regions Vertex AI serves, for checking --region before anything is sent: our own table, so that a dry
run or a bad flag needs neither the SDK's 2.5 s import nor its source files (a launcher installed without
the `submit` extra has neither).

Source: google-cloud-aiplatform 2.7.0, google.cloud.aiplatform.constants.base.SUPPORTED_REGIONS, read on
2026-12-03 (the SDK's own check of `aiplatform.init(location=...)`); tests/test_hardening.py fails when an
installed SDK lists a region this table lacks.
"""

VERTEX_REGIONS = frozenset(
    {
        "africa-south1",
        "asia-east1",
        "asia-east2",
        "asia-northeast1",
        "asia-northeast2",
        "asia-northeast3",
        "asia-south1",
        "asia-south2",
        "asia-southeast1",
        "asia-southeast2",
        "australia-southeast1",
        "australia-southeast2",
        "europe-central2",
        "europe-north1",
        "europe-north2",
        "europe-southwest1",
        "europe-west1",
        "europe-west2",
        "europe-west3",
        "europe-west4",
        "europe-west6",
        "europe-west8",
        "europe-west9",
        "europe-west12",
        "global",
        "me-central1",
        "me-central2",
        "me-west1",
        "northamerica-northeast1",
        "northamerica-northeast2",
        "southamerica-east1",
        "southamerica-west1",
        "us-central1",
        "us-east1",
        "us-east4",
        "us-east5",
        "us-east7",
        "us-south1",
        "us-west1",
        "us-west2",
        "us-west3",
        "us-west4",
        "us-west8",
    }
)
