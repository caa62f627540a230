"""The registry loads, derives paths, and refuses bad selectors."""

import pytest

from kflab import paths, registry


def test_every_lab_derives_its_folder_check_and_docs_paths():
    lab = registry.get("2.1")
    assert lab.folder == "stage2/01_lightweight_components", "a lab's folder is stageN/NN_slug"
    assert lab.check_file == paths.CHECKS / "stage2" / "test_01_lightweight_components.py", "check file is derived"
    assert lab.dir(paths.SOLUTIONS).is_dir(), "the derived solution folder exists"


def test_select_understands_stages_and_ids():
    assert [lab.id for lab in registry.select("2.1")] == ["2.1"], "an id selects one lab"
    assert all(lab.stage == 2 for lab in registry.select("2")), "a stage number selects its labs"


@pytest.mark.parametrize("bad", ["9.9", "x", "42"])
def test_select_refuses_unknown_selectors_with_a_sentence(bad):
    with pytest.raises(registry.RegistryError, match="kflab list|neither"):
        registry.select(bad)


def test_check_files_map_back_to_their_lab():
    lab = registry.get("2.1")
    assert registry.for_check_file(lab.check_file) == lab, "the plugin finds a module's lab from its file name"
    assert registry.for_check_file(paths.REPO / "tests" / "test_registry.py") is None, "other files belong to no lab"
