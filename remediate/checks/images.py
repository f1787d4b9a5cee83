"""Section 4 (what the host can show of its images) and section 6 (sprawl). Report-only.

Images are judged where they run: an image with a container (running or created) is one that is deployed;
images nothing runs are counted by 6.1 instead, so a build host's cache does not fail the image checks.
CIS 4.1 stays a container check (CIS audits the containers' users). Not implemented, and why:
4.8 (setuid/setgid files) needs every layer's files walked or each image run: not cheap on a real host;
4.2, 4.3, 4.7, 4.9, 4.10, 4.11 and 4.12 are about Dockerfiles, registries and build pipelines, which the host
does not show.
"""

from __future__ import annotations

from remediate.checks.context import CheckContext
from remediate.checks.model import Outcome, predicate
from remediate.facts import parse


def image_name(image: dict) -> str:
    tags = image.get("RepoTags") or image.get("RepoDigests") or []
    short = str(image.get("Id", "?")).removeprefix("sha256:")[:12]
    return f"{tags[0]} ({short})" if tags else short


def _users(ctx: CheckContext, image: dict) -> str:
    names = sorted(c for c, i in ctx.image_of_container.items() if i == image["Id"])
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def per_image_in_use(problem):
    """A check that fails for every image in use where `problem` returns a description."""

    def check(ctx: CheckContext) -> Outcome:
        if not ctx.images_known:
            return Outcome.na("dockerd is not answering: images could not be listed")
        if not ctx.images_in_use:
            return Outcome.na(f"no container runs any of the {len(ctx.images)} image(s) on this host")
        found = [(image, problem(ctx, image)) for image in ctx.images_in_use]
        bad = [f"{image_name(i)}: {why} (used by {_users(ctx, i)})" for i, why in found if why]
        return Outcome.failed(*bad) if bad else Outcome.passed(f"{len(found)} image(s) in use, none failing")

    return check


def _checks_health(healthcheck) -> bool:
    test = (healthcheck or {}).get("Test") or []
    return bool(test) and test[0] != "NONE"


def _no_healthcheck(ctx: CheckContext, image: dict) -> str | None:
    """An image without HEALTHCHECK passes only where every container it runs as checks health itself
    (--health-cmd): what the instruction is for is then done."""
    if _checks_health(image.get("Healthcheck")):
        return None
    names = {c for c, i in ctx.image_of_container.items() if i == image["Id"]}
    own = [c for c in ctx.containers if c.get("Name", "").lstrip("/") in names]
    if own and len(own) == len(names) and all(_checks_health(c.get("Healthcheck")) for c in own):
        return None
    test = (image.get("Healthcheck") or {}).get("Test") or []
    return "HEALTHCHECK NONE (disabled)" if test[:1] == ["NONE"] else "no HEALTHCHECK instruction"


def _too_old(ctx: CheckContext, image: dict) -> str | None:
    created = parse.docker_time(image.get("Created"))
    limit = ctx.policy.threshold("images", "max_age_days")
    if created is None:
        return f"no creation time ({image.get('Created')!r}): its age cannot be told"
    age = (ctx.today - created.date()).days
    return f"built {created.date().isoformat()}, {age} days ago (policy: at most {limit})" if age > limit else None


predicate("4.6")(per_image_in_use(_no_healthcheck))
predicate("4.4")(per_image_in_use(_too_old))


@predicate("6.1")
def image_sprawl(ctx: CheckContext) -> Outcome:
    if not ctx.images_known:
        return Outcome.na("dockerd is not answering: images could not be listed")
    limit = ctx.policy.threshold("sprawl", "unused_images")
    unused = [i for i in ctx.images if i not in ctx.images_in_use]
    names = ", ".join(image_name(i) for i in unused[:10]) + (" ..." if len(unused) > 10 else "")
    evidence = f"{len(unused)} of {len(ctx.images)} image(s) run by no container (policy: at most {limit})"
    return Outcome.of(len(unused) <= limit, evidence + (f": {names}" if unused else ""))


@predicate("6.2")
def container_sprawl(ctx: CheckContext) -> Outcome:
    if not ctx.containers_known:
        return Outcome.na("dockerd is not answering: containers could not be listed")
    limit = ctx.policy.threshold("sprawl", "stopped_containers")
    stopped = [c for c in ctx.containers if c.get("Status") != "running"]
    names = ", ".join(f"{c.get('Name', '?').lstrip('/')} ({c.get('Status', '?')})" for c in stopped[:10])
    evidence = f"{len(stopped)} of {len(ctx.containers)} container(s) not running (policy: at most {limit})"
    return Outcome.of(len(stopped) <= limit, evidence + (f": {names}" if stopped else ""))
