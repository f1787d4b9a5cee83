"""The lab image's recipe key: extra packages make a separate image, the default image stays the same."""

from __future__ import annotations

from remediate.lab import image
from remediate.lab.fleet import Lab


def test_extra_packages_are_part_of_the_recipe_and_the_default_is_unchanged():
    default = image.recipe_key()
    assert image.recipe_key(()) == default
    with_python = image.recipe_key(("python3",))
    assert with_python != default
    assert image.recipe_key(("python3",)) == with_python  # stable, so the bench image is cached


def test_a_lab_passes_its_extra_packages_to_the_image(tmp_path):
    assert Lab("x", home=tmp_path).extra_packages == ()
    assert Lab("bench", home=tmp_path, scenario_names=(), extra_packages=["python3"]).extra_packages == ("python3",)
