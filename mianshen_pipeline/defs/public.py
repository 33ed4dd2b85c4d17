"""The public catalogue of the policies delivered without application (免申即享专区)."""

import json
import os

import dagster as dg
from jinja2 import Environment, FileSystemLoader, select_autoescape

from mianshen_pipeline.catalogue import load_catalogue
from mianshen_pipeline.paths import ASSETS_DIR
from mianshen_pipeline.resources import PipelineSettings

PUBLIC_FIELDS = ("id", "name", "name_en", "service_object", "service_content",
                 "conditions_text", "times_per_year", "application_window",
                 "implementing_department", "payout_time", "hotline", "mode", "notes", "links",
                 "service_item", "cycle")
_templates = Environment(loader=FileSystemLoader(ASSETS_DIR / "templates"),
                         autoescape=select_autoescape(["html", "j2"]))


def catalogue_entries() -> list[dict]:
    """Return the basic information of every policy, as the published policy list shows it."""
    return [card.model_dump(mode="json", include=set(PUBLIC_FIELDS))
            for card in load_catalogue().values()]


def _write(path, text: str) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


@dg.asset(
    key=["public", "catalogue"],
    group_name="public",
    kinds={"html", "json"},
    description="Published list of the policies delivered without application.",
    metadata={"outbox": "public/catalogue.html, public/catalogue.json"},
)
def public_catalogue(settings: PipelineSettings) -> dg.MaterializeResult:
    entries = catalogue_entries()
    folder = settings.paths.outbox / "public"
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / "catalogue.json",
           json.dumps({"policies": entries}, ensure_ascii=False, indent=2) + "\n")
    _write(folder / "catalogue.html",
           _templates.get_template("catalogue.html.j2").render(policies=entries))
    return dg.MaterializeResult(metadata={
        "policies": len(entries),
        "path": dg.MetadataValue.path(str(folder / "catalogue.html")),
    })
