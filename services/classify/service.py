"""The classify service as the platform sees it: its processes, ports, seed model and
CLI commands (found through the ``zhijian.services`` entry point)."""

from __future__ import annotations

from pathlib import Path

from zhijian.service_spec import (
    EVERY_DOMAIN,
    GOVERNMENT_NETWORKS,
    Access,
    CommandGroups,
    ModelServerSpec,
    Progress,
    SeedDataset,
    SeedModel,
    SeedVersion,
    ServiceSpec,
)

# Kept here, not in settings: the CLI reads this module at every start and must not pay for
# what the service's settings import.
MODEL_NAME = "zhijian-classify"
DEFAULT_GRPC_PORT = 50061
DEFAULT_METRICS_PORT = 9461
DEFAULT_MODEL_SERVER_PORT = 3061


def ensure_seed_version(tracking_uri: str, folder: Path, progress: Progress) -> SeedVersion:
    """The newest registered version, else the seed model trained on the training part of
    the seed corpus (the rest is the held-out test set of its filing)."""
    from services.classify.training import (
        SEED_PROVENANCE,
        latest_version,
        load_corpus,
        train_and_register,
        write_seed_split,
    )

    train, test = write_seed_split(folder)
    version = latest_version(tracking_uri)
    if version is None:
        progress(f"first start: training the seed model of {MODEL_NAME}")
        result = train_and_register(load_corpus(train, SEED_PROVENANCE),
                                    tracking_uri=tracking_uri, progress=progress)
        progress(f"registered {MODEL_NAME} version {result.version} "
                 f"({result.seconds:.1f}s; dev macro-F1 "
                 + ", ".join(f"{k.removeprefix('dev_macro_f1_')} {v:.3f}"
                             for k, v in result.metrics.items()) + ")")
        version = result.version
    return SeedVersion(
        version,
        SeedDataset(train, "seed corpus (training)", "80% of the seed corpus, split by text hash"),
        SeedDataset(test, "seed corpus (held-out test)",
                    "20% of the seed corpus, split by text hash"))


def seed_filing(version: str, **names: object) -> object:
    from services.classify.filing import seed_filing as draft

    return draft(version, **names)


def add_commands(groups: CommandGroups) -> None:
    from services.classify.cli import add_commands as add

    add(groups)


SPEC = ServiceSpec(
    name="classify",
    grpc_services=("zhijian.classify.v1.ClassifyService",),
    module="services.classify",
    default_grpc_port=DEFAULT_GRPC_PORT,
    default_metrics_port=DEFAULT_METRICS_PORT,
    model_server=ModelServerSpec("services.classify.model_server:ClassifyModelServer",
                                 DEFAULT_MODEL_SERVER_PORT),
    seed=SeedModel(
        model_name=MODEL_NAME, ensure_version=ensure_seed_version, filing=seed_filing,
        dataset={"source": "zhijian seed corpus, written for the project "
                           "(services/classify/corpus)",
                 "legal_basis": "project's own work; no personal data",
                 "data_level": "DATA_LEVEL_L1_PUBLIC",
                 "annotation_notes": "labelled by the corpus author against the 2017 "
                                     "classification catalogue",
                 "known_gaps": ["invented products; label noise near regulatory boundaries"]}),
    add_commands=add_commands,
    # Business systems classify what they send from every network (the internet's L1
    # ceiling keeps that to public data); reviewers decide from government networks only.
    access=(Access(("Classify", "ClassifyBatch"), ("business_system",), EVERY_DOMAIN),
            Access(("ReviewResult",), ("reviewer",), GOVERNMENT_NETWORKS)),
    examples=('zhijian classify --as business "一次性使用无菌注射器"',
              'zhijian classify --as business --domain internet "一次性使用无菌注射器"'
              "   # refused: the seed model is not filed for the internet"),
)
