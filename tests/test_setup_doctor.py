"""`setup` never overwrites or reconfigures what exists, and refuses in one line what it cannot take; `doctor` says
"could not check" (not a pass) without the role, and names each fix; `train` checks its quota and its gs:// data
before it sends anything. Against a new project in the fake (conftest.new_project)."""

from __future__ import annotations

import pytest
from conftest import PROJECT, PROJECT_BUCKET, T4_QUOTA, launch_in_new_project, one_line
from google.cloud import artifactregistry_v1, storage

from trainer.submit import source
from trainer.submit.errors import SubmitError

pytestmark = pytest.mark.usefixtures("clean_settings")
REGISTRY = f"us-central1-docker.pkg.dev/{PROJECT}/mnist"
CPU_TRAINER = ["--stage", "dense", "--smoke", "--accelerator=cpu"]


def _refused(capsys, *argv: str) -> str:
    """The one error line of a command that must exit 2."""
    code, out, err = launch_in_new_project(capsys, *argv)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("error: "), err
    one_line(SubmitError(err.strip()))
    return err


def test_setup_dry_run_lists_each_step_and_calls_nothing(new_project, capsys):
    vertex = new_project[0]
    code, out, err = launch_in_new_project(capsys, "setup", "--dry-run")
    assert code == 0, err
    assert [line.split()[1] for line in out.splitlines()] == ["enable", "create", "create", "copy"], out
    assert vertex.project.projects[PROJECT].services == set() and not vertex.project.projects[PROJECT].repositories
    assert storage.Client().lookup_bucket("first-day-mnist") is None


def test_setup_refuses_a_repository_of_another_format_and_creates_nothing_after_it(new_project, capsys):
    vertex = new_project[0]
    name = f"projects/{PROJECT}/locations/us-central1/repositories/mnist"
    vertex.project.projects[PROJECT].repositories[name] = artifactregistry_v1.Repository(name=name, format_="MAVEN")
    err = _refused(capsys, "setup")
    assert f"repository {REGISTRY}: a MAVEN repository, not DOCKER" in err and "--repository" in err
    assert vertex.project.projects[PROJECT].repositories[name].format_.name == "MAVEN"
    assert storage.Client().lookup_bucket("first-day-mnist") is None  # the steps after it did not run


def test_setup_refuses_a_file_of_another_checksum_naming_it_and_leaves_it(new_project, capsys):
    bucket = storage.Client().create_bucket("first-day-mnist", location="us-central1")
    bucket.blob("mnist/t10k-images-idx3-ubyte.gz").upload_from_string(b"mine")
    err = _refused(capsys, "setup")
    assert f"{PROJECT_BUCKET}/mnist/t10k-images-idx3-ubyte.gz: exists with another checksum" in err
    assert bucket.blob("mnist/t10k-images-idx3-ubyte.gz").download_as_bytes() == b"mine"


def test_setup_reports_a_bucket_in_another_location_and_leaves_it_there(new_project, capsys):
    storage.Client().create_bucket("first-day-mnist", location="europe-west4")
    code, out, err = launch_in_new_project(capsys, "setup")
    assert code == 0, err
    assert f"already there   bucket {PROJECT_BUCKET}: in europe-west4, not us-central1, left as it is" in out
    assert storage.Client().get_bucket("first-day-mnist").location.lower() == "europe-west4"


def test_doctor_without_a_role_says_could_not_check_naming_it_and_does_not_pass(new_project, capsys):
    vertex = new_project[0]
    vertex.project.projects[PROJECT].refused.update({"cloudquotas", "serviceusage"})
    code, out, err = launch_in_new_project(capsys, "doctor")
    assert code == 2
    assert "could not check services: PERMISSION_DENIED (roles/serviceusage.serviceUsageViewer)" in out
    assert "could not check quota custom_model_training_nvidia_t4_gpus in us-central1: PERMISSION_DENIED " \
           "(roles/cloudquotas.viewer)" in out  # fmt: skip


def test_doctor_names_a_missing_service_account_one_the_caller_may_not_use_and_a_bucket_it_may_not_write(
    new_project, capsys
):
    vertex, _, _, front = new_project
    assert launch_in_new_project(capsys, "setup")[0] == 0
    front.denied["first-day-mnist"] = {"storage.objects.create"}
    missing, foreign = f"nobody@{PROJECT}.iam.gserviceaccount.com", f"runner@{PROJECT}.iam.gserviceaccount.com"
    vertex.project.add_account(foreign, users=set())
    code, out, _ = launch_in_new_project(capsys, "doctor", "--service-account", missing)
    assert code == 2 and f"FAILED          service account {missing}: does not exist; fix: " in out
    assert f"FAILED          bucket {PROJECT_BUCKET}: the caller may not write there (storage.objects.create)" in out
    code, out, _ = launch_in_new_project(capsys, "doctor", "--service-account", foreign)
    assert f"service account {foreign}: the caller may not act as it (iam.serviceAccounts.actAs); fix: " in out
    assert "--role=roles/iam.serviceAccountUser" in out
    vertex.project.add_account(foreign, users={"trainer@demo-project.iam.gserviceaccount.com"})
    code, out, _ = launch_in_new_project(capsys, "doctor", "--service-account", foreign)
    assert f"passed          service account {foreign}: exists, and the caller may act as it" in out


def test_train_refuses_before_sending_a_job_without_quota_or_without_its_data(new_project, capsys):
    vertex = new_project[0]
    assert launch_in_new_project(capsys, "setup")[0] == 0
    vertex.registry.push(f"{REGISTRY}/mnist-trainer:{source.tag('Dockerfile')}")  # built
    sent = len(vertex.requests)
    err = _refused(capsys, "train", *CPU_TRAINER)
    assert "quota custom_model_training_nvidia_t4_gpus in us-central1: 0 granted, the job needs 1" in err
    vertex.project.grant(PROJECT, T4_QUOTA, "us-central1", 2)
    err = _refused(capsys, "train", "--replicas", "3", *CPU_TRAINER)
    assert "2 granted, the job needs 3" in err
    err = _refused(capsys, "train", "--spot", *CPU_TRAINER)  # Spot VMs count against the preemptible quota
    assert "quota custom_model_training_preemptible_nvidia_t4_gpus in us-central1: 0 granted" in err
    err = _refused(
        capsys, "train", "--stage", "dense", "--data-dir", f"{PROJECT_BUCKET}/elsewhere", "--accelerator=cpu"
    )
    assert f"data {PROJECT_BUCKET}/elsewhere: missing train-images-idx3-ubyte" in err
    assert len(vertex.requests) == sent  # nothing was sent


def test_setup_without_the_role_to_enable_services_is_one_line_and_creates_nothing(new_project, capsys):
    vertex = new_project[0]
    vertex.project.projects[PROJECT].refused.add("serviceusage")
    err = _refused(capsys, "setup")
    assert "PERMISSION_DENIED" in err or "permission" in err.lower(), err
    assert not vertex.project.projects[PROJECT].repositories
    assert storage.Client().lookup_bucket("first-day-mnist") is None
