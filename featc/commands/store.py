"""`featc store status|prune`: what an online store holds for a build, and removing what no build uses.

Every served block keeps its state in a namespace named by its project and serving fingerprint
(docs/serving.md, "Key layout"), so a deploy that changes a block leaves the old namespace
behind for the build still running. `prune` removes the namespaces of a project that none of the
builds still deployed uses; namespaces of other projects are never touched.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..cli import _path, handled

BUILD = click.argument("build_dirs", nargs=-1, required=True, type=_path(exists=True, file_okay=False))
STORE = click.option("--store", "url", required=True, help="The online store: redis://host:port/db.")


@click.group("store")
def command() -> None:
    """Inspect and clean an online store (docs/serving.md)."""


@command.command("status")
@BUILD
@STORE
@handled
def status(build_dirs: tuple[Path, ...], url: str) -> None:
    """Per served block of each BUILD_DIR: its namespace, whether it holds state, boundaries and late events."""
    from ..runtime.online import OnlineStore, open_state, read_build

    state = open_state(url)
    for build in build_dirs:
        store = OnlineStore(*read_build(build), state)
        click.echo(f"{build} (project {store.spec.name}, build {store.build})")
        ready = state.ready(store.namespaces().values())
        late = store.late_events()
        for block, namespace in store.namespaces().items():
            if namespace not in ready:
                click.echo(f"  {block:<24} {namespace}  NO STATE: not served until loaded")
            elif block in late:
                click.echo(f"  {block:<24} {namespace}  continuous, late events: {late[block]}")
            else:
                landed = store.boundaries(block)
                newest = landed[-1].isoformat() if landed else "none"
                click.echo(f"  {block:<24} {namespace}  batch, {len(landed)} boundaries, newest {newest}")


@command.command("prune")
@BUILD
@STORE
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
@handled
def prune(build_dirs: tuple[Path, ...], url: str, dry_run: bool) -> None:
    """Remove the namespaces of the BUILD_DIRs' projects that none of these builds uses.

    Pass every build still deployed: state a running build reads is never removed. Namespaces an
    older featc wrote in another format of the state's bytes are never read, so they go too.
    """
    from ..runtime.codec import FORMAT
    from ..runtime.online import OnlineStore, open_state, read_build

    state = open_state(url)
    stores = [OnlineStore(*read_build(build), state) for build in build_dirs]
    used = {namespace for store in stores for namespace in store.namespaces().values()}
    # Every format of the state's bytes: this runtime never reads what another format wrote
    # (runtime/codec.py), so after an upgrade the old namespaces are unused too.
    projects = {f"featc:{version}:{store.spec.name}:": store.spec.name
                for store in stores for version in range(1, FORMAT + 1)}  # fmt: skip
    unused = {
        n: meta
        for prefix, project in sorted(projects.items())
        for n, meta in state.namespaces(prefix).items()
        if n not in used and meta.get("project") == project  # a prefix alone could match a longer project name
    }
    for namespace, meta in sorted(unused.items()):
        what = f"block {meta.get('block', '?')}, written by build {meta.get('build', '?')}"
        click.echo(f"{'would remove' if dry_run else 'removed'} {namespace} ({what})")
        if not dry_run:
            state.drop(namespace)
    click.echo(
        f"featc: {len(unused)} unused namespace(s){' (dry run)' if dry_run else ''}; {len(used)} in use", err=True
    )
