"""Lab 1.2: a data-preparation notebook (prepare.ipynb) that writes Parquet to an fsspec URL."""

import os
import shutil
import uuid

import pandas as pd
import pytest

from kflab import notebooks
from kflab.failures import CheckFailure, expect

NOTEBOOK, RAW = "prepare.ipynb", "trips_raw.csv"
PARQUET, PLOT = "trips_clean.parquet", "fare_distribution.png"
DISTANCE_KM, FARE_USD = (0.1, 100.0), (2.5, 500.0)  # the bounds the notebook's parameters name
SCHEMA = {"trip_id": "int64", "pickup_time": "timestamp", "distance_km": "double",
          "fare_usd": "double", "passengers": "int64", "payment": "string"}
NO_ENDPOINT = (
    "no S3 endpoint for the pipelines' object store. On your Kind cluster run "
    "`kubectl port-forward -n kubeflow svc/minio-service 9000:9000` and set KFLAB_S3_ENDPOINT=http://localhost:9000 "
    "(CI's control plane runs one too: `eval \"$(scripts/controlplane env)\"` sets it)."
)


def run(lab, folder, output_url: str, extra_env: dict | None = None):
    """Execute the learner's notebook in a copy of their lab folder, writing to `output_url`."""
    lab.file(NOTEBOOK)  # a sentence, not a traceback, when either file is missing
    lab.file(RAW)
    shutil.copytree(lab.dir, folder, ignore=shutil.ignore_patterns("local_outputs", ".ipynb_checkpoints"))
    return notebooks.execute(folder / NOTEBOOK, folder, {"KFLAB_OUTPUT_URL": output_url, **(extra_env or {})},
                             shown=lab.shown(lab.dir / NOTEBOOK))


@pytest.fixture(scope="module")
def outputs(lab, lab_tmp):
    """One offline run: the notebook writes into a local folder that the checks then read."""
    out = lab_tmp / "out"
    run(lab, lab_tmp / "run", str(out))
    return out


@pytest.fixture(scope="module")
def table(outputs):
    import pyarrow.parquet as pq

    path = outputs / PARQUET
    expect(path.is_file(), f"The notebook wrote no {PARQUET} to OUTPUT_URL (it wrote {sorted(p.name for p in outputs.glob('*')) or 'nothing'}). "
                           f'Write it in the last cell with `fs.open(f"{{root}}/{PARQUET}", "wb")` and `df.to_parquet(fh, index=False)`.')
    try:
        return pq.read_table(path)
    except Exception as exc:
        raise CheckFailure(f"{PARQUET} is not a readable Parquet file ({exc}). Write it with DataFrame.to_parquet.") from None


def reference(csv) -> pd.DataFrame:
    """The clean trips, computed here from the raw file: the rows the notebook must keep."""
    raw = pd.read_csv(csv).drop_duplicates()
    clean = pd.DataFrame({
        "trip_id": raw["trip_id"],
        "distance_km": pd.to_numeric(raw["distance_km"], errors="coerce"),
        "fare_usd": pd.to_numeric(raw["fare"].str.lstrip("$"), errors="coerce"),
        "passengers": raw["passengers"],
        "pickup_time": pd.to_datetime(raw["pickup_time"], errors="coerce"),
        "payment": raw["payment"],
    })
    return clean


def arrow_kind(field_type) -> str:
    import pyarrow as pa

    if pa.types.is_timestamp(field_type):
        return "timestamp"
    if pa.types.is_dictionary(field_type):
        return arrow_kind(field_type.value_type)
    if pa.types.is_string(field_type) or pa.types.is_large_string(field_type):
        return "string"
    return str(field_type)


def test_parquet_has_the_clean_columns_and_types(table):
    """Does the Parquet file hold exactly the six columns, with their fixed types?"""
    got = {f.name: arrow_kind(f.type) for f in table.schema}
    expect(list(got) == list(SCHEMA),
           f"The columns are {list(got)}, but should be {list(SCHEMA)} in that order. Rename `fare` to `fare_usd`, "
           "select the columns in order, and write with index=False.")
    wrong = {c: t for c, t in got.items() if t != SCHEMA[c]}
    expect(not wrong, "Some columns keep the wrong type: " + ", ".join(f"{c} is {t}, not {SCHEMA[c]}" for c, t in wrong.items())
                      + ". Convert them in the types cell (pd.to_datetime, pd.to_numeric); make passengers whole "
                      "numbers with `.astype('int64')` only after dropna(), in the drop cell, since NaN cannot be an integer.")
    payments = set(table.column("payment").to_pylist()) - {None}
    expect(payments <= {"card", "cash"}, f"payment holds {sorted(payments)}; normalise it to 'card' and 'cash' "
                                         "with `.str.strip().str.lower()`.")


def test_output_has_no_missing_values(table):
    """Is every value of every column present?"""
    nulls = {name: table.column(name).null_count for name in table.column_names if table.column(name).null_count}
    expect(not nulls, f"The output still has missing values ({nulls}). Drop the rows with any missing value: "
                      "`df.dropna()`, after converting the text markers like 'unknown' into NaN.")


def test_rows_are_the_unique_complete_trips_within_bounds(table, lab):
    """Does the output hold exactly the trips that are unique, complete and within the distance and fare bounds?"""
    ref = reference(lab.file(RAW))
    complete = ref.dropna()
    keep = complete[complete["distance_km"].between(*DISTANCE_KM) & complete["fare_usd"].between(*FARE_USD)]
    got = table.column("trip_id").to_pylist() if "trip_id" in table.column_names else []
    expect(len(got) == len(set(got)), f"{len(got) - len(set(got))} trips appear more than once. Drop exact duplicate rows "
                                      "with `df.drop_duplicates()`.")
    extra, missing = set(got) - set(keep["trip_id"]), set(keep["trip_id"]) - set(got)
    why = []
    if extra & (set(ref["trip_id"]) - set(complete["trip_id"])):
        why.append("some rows with a missing value remain (dropna)")
    if extra & set(complete["trip_id"]):
        why.append(f"some trips outside {DISTANCE_KM} km or {FARE_USD} USD remain (Series.between, bounds included)")
    if missing:
        why.append(f"{len(missing)} valid trips were dropped (keep the rows within the bounds, bounds included)")
    expect(not (extra or missing), f"The output has {len(got)} trips, but the clean data has {len(keep)}: "
                                   + "; ".join(why or ["the trip ids differ"]) + ".")


def test_fare_distribution_plot_is_saved_as_png(outputs):
    """Did the notebook save a PNG plot of the fare distribution next to the data?"""
    import matplotlib.image

    path = outputs / PLOT
    expect(path.is_file(), f"The notebook saved no {PLOT} to OUTPUT_URL. Save the histogram with "
                           f'`fig.savefig(fh, format="png")` into `fs.open(f"{{root}}/{PLOT}", "wb")`.')
    try:
        height, width = matplotlib.image.imread(path).shape[:2]
    except Exception as exc:
        raise CheckFailure(f"{PLOT} is not a PNG image that can be read ({exc}). Pass format=\"png\" to savefig.") from None
    expect(width >= 200 and height >= 150, f"{PLOT} is only {width}x{height} pixels; save the figure itself, not an empty one.")


def s3_credentials(request) -> dict[str, str]:
    """The object store's keys: from the environment, else from KFP's own secret on the cluster."""
    if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        return {}
    cluster = request.getfixturevalue("cluster")
    data = cluster.secret_data("mlpipeline-minio-artifact", "kubeflow")
    return {"AWS_ACCESS_KEY_ID": data["accesskey"], "AWS_SECRET_ACCESS_KEY": data["secretkey"]}


@pytest.mark.cluster
def test_parquet_lands_in_the_mlpipeline_bucket(lab, lab_tmp, request):
    """Run against the cluster's object store, does the notebook put trips_clean.parquet into s3://mlpipeline?"""
    import s3fs

    endpoint = os.environ.get("KFLAB_S3_ENDPOINT")
    if not endpoint:
        pytest.skip(NO_ENDPOINT)
    keys = s3_credentials(request)
    prefix = f"mlpipeline/kflab-checks/lab-1-2-{uuid.uuid4().hex[:8]}"
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, key=keys.get("AWS_ACCESS_KEY_ID"), secret=keys.get("AWS_SECRET_ACCESS_KEY"))
    try:
        try:
            run(lab, lab_tmp / "run-s3", f"s3://{prefix}", {"KFLAB_S3_ENDPOINT": endpoint, **keys})
        except CheckFailure as exc:
            # Most often a path handed to pandas, open() or savefig(): fine on a local folder, wrong on S3.
            first, _, rest = str(exc).partition("\n")
            raise CheckFailure(f"With OUTPUT_URL=s3://{prefix}: {first} On S3, `root` is `bucket/prefix`, not a "
                               "folder of this machine: write every output through `fs.open(...)`, never with a "
                               "path given to pandas, open() or savefig()." + (f"\n{rest}" if rest else "")) from None
        expect(fs.exists(f"{prefix}/{PARQUET}"),
               f"The notebook ran with OUTPUT_URL=s3://{prefix}, but s3://{prefix}/{PARQUET} does not exist. "
               "Write through `fs.open(...)` from `fsspec.core.url_to_fs(OUTPUT_URL, **STORAGE)`, not to a local path.")
        with fs.open(f"{prefix}/{PARQUET}", "rb") as fh:
            expect(len(pd.read_parquet(fh)) > 0, f"s3://{prefix}/{PARQUET} holds no rows.")
    finally:
        if fs.exists(prefix):
            fs.rm(prefix, recursive=True)
