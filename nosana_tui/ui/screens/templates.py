"""Templates: the library, a preview of the job (highlighted), its graph, its variables, Deploy.

A job or dstack file opened from disk (``nosana-tui FILE``) lands here too, at the top of the list.
Validation problems show in place, with the field path and line, before anything is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Footer,
    Header,
    Input,
    Label,
    OptionList,
    Static,
    TabbedContent,
    TabPane,
)
from textual.widgets.option_list import Option

from nosana_tui.jobformat import templates as tpl
from nosana_tui.jobformat.diagnostics import OWN_RULE, Diagnostic, Severity, printable
from nosana_tui.ui.app import nosana_app
from nosana_tui.ui.sections import section_tabs
from nosana_tui.ui.settings import NodeEntry
from nosana_tui.ui.widgets.graph import OpGraph
from nosana_tui.ui.widgets.nodebar import NodeBar

if TYPE_CHECKING:
    from nosana_tui.ui.screens.deploy import Target

# The first frame shows the list, drawn from the library's files; the highlighted template's
# preview (validation, the job model, the graph) follows right after it (bench/README.md,
# "Start-up"), and every later preview is drawn at once, as before.


@dataclass
class Rendered:
    """What a template or file makes: the job data, or the problems that stop it."""

    data: dict[str, Any] | None
    diagnostics: list[Diagnostic]
    source: str


def _render(template: tpl.Template, sets: dict[str, str]) -> Rendered:
    try:
        _, data, report = tpl.render(template, sets)
        return Rendered(data, report.diagnostics, f"template:{template.id}")
    except tpl.TemplateError as err:
        diags = err.diagnostics or [Diagnostic("template", str(err), file=str(template.path))]
        return Rendered(None, diags, f"template:{template.id}")


def _render_file(path: Path) -> Rendered:
    from nosana_tui.jobformat.validate import validate_file

    if tpl.is_dstack_file(path):
        from nosana_tui.jobformat.dstack.convert import convert_file

        result = convert_file(path)
        return Rendered(result.data, result.report.diagnostics, str(path))
    job, report = validate_file(path)
    data = job.model_dump(mode="json", by_alias=True, exclude_none=True) if job else None
    return Rendered(data, report.diagnostics, str(path))


class TemplatesScreen(Screen[None]):
    SUB_TITLE = section_tabs("Templates")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search", id="templates.search", key_display="/"),
        Binding("d", "deploy", "Deploy", id="templates.deploy"),
        Binding("v", "show_tab('variables')", "Variables", id="templates.variables"),
        Binding("g", "show_tab('graph')", "Graph", id="templates.graph"),
        Binding("p", "show_tab('job')", "Preview", id="templates.preview"),
        Binding("escape", "focus_list", "List", show=False, id="templates.list"),
        # the user's own templates (``templateedit``)
        Binding("n", "new_template", "New from file", show=False, id="templates.new"),
        Binding("c", "copy_template", "Copy", show=False, id="templates.copy"),
        Binding("e", "edit_template", "Edit in $EDITOR", show=False, id="templates.edit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.templates: list[tpl.Template] = []
        self.current: tpl.Template | None = None
        self.file: Path | None = None
        self.rendered: Rendered | None = None
        self._drawn = False  # the first frame is on screen: previews are drawn at once
        self._waiting: tuple[tpl.Template | None, str, str] | None = None  # until then

    def compose(self) -> ComposeResult:
        yield Header()
        yield NodeBar()
        with Horizontal(id="templates-body"):
            with Vertical(id="template-list-pane"):
                yield Input(placeholder="/ search templates", id="template-search")
                yield OptionList(id="template-list")
            with Vertical(id="template-detail"):
                yield Label("", id="template-title")
                yield Static("", id="template-problems")
                with TabbedContent(initial="job", id="template-tabs"):
                    with TabPane("Job", id="job"), VerticalScroll():
                        yield Static("", id="template-job")
                    with TabPane("Graph", id="graph"):
                        yield OpGraph(id="template-graph")
                    with TabPane("Variables", id="variables"):
                        yield VerticalScroll(id="template-variables")
        yield Footer()

    def on_mount(self) -> None:
        app = nosana_app(self)
        self.file = app.open_file
        self.query_one("#template-problems").display = False  # until a preview has problems
        self.templates, problems = tpl.load_library(app.locations.templates_dir)
        for problem in problems:
            self.notify(problem, severity="warning", markup=False)
        self.fill_list("")
        self.query_one("#template-list", OptionList).focus()
        self.call_after_refresh(self._first_frame_drawn)

    def _first_frame_drawn(self) -> None:
        self._drawn = True
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            self.preview(*waiting)

    # --- list -----------------------------------------------------------------------------------

    def fill_list(self, query: str) -> None:
        options = self.query_one("#template-list", OptionList)
        options.clear_options()
        needle = query.lower().strip()
        if self.file is not None:
            options.add_option(Option(Text(f"📄 {self.file.name}"), id="file:"))
        for template in self.templates:
            haystack = " ".join(
                (template.id, template.name, template.description, *template.category)
            ).lower()
            if needle and needle not in haystack:
                continue
            label = Text(template.id)
            label.append(f"  {', '.join(template.category)}", style="dim")
            options.add_option(Option(label, id=template.id))
        if options.option_count:
            options.highlighted = 0

    @on(Input.Changed, "#template-search")
    def search_changed(self, event: Input.Changed) -> None:
        self.fill_list(event.value)

    @on(Input.Submitted, "#template-search")
    def search_done(self) -> None:
        self.query_one("#template-list", OptionList).focus()

    @on(OptionList.OptionHighlighted, "#template-list")
    async def highlighted(self, event: OptionList.OptionHighlighted) -> None:
        option_id = event.option.id or ""
        if option_id == "file:" and self.file is not None:
            self.current = None
            self.preview(None, self.file.name, "a file from disk")
            await self.fill_variables(None)
            return
        template = next((t for t in self.templates if t.id == option_id), None)
        if template is None:
            return
        self.current = template
        await self.fill_variables(template)
        self.preview(template, template.name, template.description)

    def preview(self, template: tpl.Template | None, title: str, description: str) -> None:
        """Show TEMPLATE's job (None: the file's); before the first frame only its title, the
        job once the frame is drawn (the last one highlighted by then)."""
        if not self._drawn:
            self._waiting = (template, title, description)
            self._show_title(title, description)
        elif template is not None:
            self.show(_render(template, {}), title, description)
        elif self.file is not None:
            self.show(_render_file(self.file), title, description)

    @on(OptionList.OptionSelected, "#template-list")
    def selected(self) -> None:
        self.action_show_tab("variables" if self.current and self.current.variables else "job")

    # --- preview ------------------------------------------------------------------------------

    def show(self, rendered: Rendered, title: str, description: str) -> None:
        self.rendered, self._waiting = rendered, None
        self._show_title(title, description)
        problems = Text()
        # errors first: the box shows a few lines, and an error is what stops the job
        for diag in sorted(rendered.diagnostics, key=lambda d: d.severity is not Severity.ERROR):
            style = "bold" if diag.severity is Severity.ERROR else ""
            where = f"{diag.line}:{diag.column} " if diag.line else ""
            line = f"{diag.severity.value}: {where}{diag.field or '-'}: {diag.message}\n"
            problems.append(printable(line), style=style)
            if diag.hint:
                problems.append(printable(f"    {diag.hint}\n"), style="italic")
            if diag.own_rule:  # our refusal, not the network's: say so, and why
                problems.append(printable(f"    {OWN_RULE} {diag.own_rule}\n"), style="dim")
        problems.rstrip()  # no blank last line in the box
        self.query_one("#template-problems", Static).update(problems)
        self.query_one("#template-problems").display = bool(rendered.diagnostics)
        # The box above shows what fits; with no job to show, this tab (it scrolls) has them all.
        errors = sum(d.severity is Severity.ERROR for d in rendered.diagnostics)
        job_text: Any = Text.assemble(
            (
                f"no job: fix the {errors} error{'' if errors == 1 else 's'}; every problem in full:\n\n",
                "bold",
            ),
            problems,
        )
        graph = self.query_one("#template-graph", OpGraph)
        if rendered.data is not None:
            # (pygments, the job model: imported after the first frame)
            from rich.syntax import Syntax

            from nosana_tui.api.models import planned_view
            from nosana_tui.jobformat.model import JobDefinition
            from nosana_tui.jobformat.secrets import redact

            job_text = Syntax(
                json.dumps(redact(rendered.data), indent=2),
                "json",
                theme="ansi_dark" if self.app.current_theme.dark else "ansi_light",
                word_wrap=True,
                background_color="default",
            )
            graph.job = planned_view("preview", JobDefinition.model_validate(rendered.data))
        else:
            graph.job = None
        self.query_one("#template-job", Static).update(job_text)

    def _show_title(self, title: str, description: str) -> None:
        self.query_one("#template-title", Label).update(
            Text.assemble((title, "bold"), "  ", (description, "italic"))
        )

    async def fill_variables(self, template: tpl.Template | None) -> None:
        box = self.query_one("#template-variables", VerticalScroll)
        await box.remove_children()
        if template is None or not template.variables:
            await box.mount(Label("This template has no variables."))
            return
        for var in template.variables:
            await box.mount(Label(Text.assemble((var.name, "bold"), f"  {var.description}")))
            await box.mount(
                Input(
                    value=var.default or "",
                    placeholder="required" if var.default is None else var.default,
                    id=f"var-{var.name}",
                    classes="variable",
                    password="TOKEN" in var.name.upper() or "SECRET" in var.name.upper(),
                )
            )

    def sets(self) -> dict[str, str]:
        if self.current is None:
            return {}
        values: dict[str, str] = {}
        for var in self.current.variables:
            field = self.query(f"#var-{var.name}")
            if field:
                value = field.first(Input).value
                if value != (var.default or "") or var.default is None:
                    values[var.name] = value
        return values

    @on(Input.Changed, ".variable")
    def variable_changed(self) -> None:
        if self.current is not None:
            self.show(
                _render(self.current, self.sets()), self.current.name, self.current.description
            )

    # --- actions --------------------------------------------------------------------------------

    def on_screen_resume(self) -> None:
        from nosana_tui.ui.screens.templateedit import reload_if_changed

        reload_if_changed(self)  # a template saved from the Jobs list is listed

    def action_new_template(self) -> None:
        from nosana_tui.ui.screens import templateedit

        self.run_worker(
            templateedit.new_from_file(self),
            group="template-edit",
            exclusive=True,
            exit_on_error=False,
        )

    def action_copy_template(self) -> None:
        from nosana_tui.ui.screens import templateedit

        self.run_worker(
            templateedit.duplicate(self), group="template-edit", exclusive=True, exit_on_error=False
        )

    def action_edit_template(self) -> None:
        from nosana_tui.ui.screens import templateedit

        self.run_worker(
            templateedit.edit(self), group="template-edit", exclusive=True, exit_on_error=False
        )

    def action_search(self) -> None:
        self.query_one("#template-search", Input).focus()

    def action_focus_list(self) -> None:
        self.query_one("#template-list", OptionList).focus()

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#template-tabs", TabbedContent).active = tab
        if tab == "variables":
            first = self.query(".variable")
            if first:
                first.first(Input).focus()

    def action_deploy(self) -> None:
        """Ask where (this node, another agent, a market with its price), then deploy there."""
        from nosana_tui.ui.screens.deploy import DeployTarget

        if self._waiting is not None:  # a key before the preview: the preview first
            self._first_frame_drawn()
        rendered = self.rendered
        if rendered is None or rendered.data is None:
            self.notify("nothing to deploy: the job has errors", severity="error", markup=False)
            return
        data, source = rendered.data, rendered.source
        name = self.current.id if self.current else (self.file.name if self.file else "job")

        def chosen(target: Target | None) -> None:
            if target is None:
                self.notify("not deployed: nothing was sent", markup=False)
            elif target.market is not None:
                self.post(data, name, target)
            elif target.node is not None:
                self.deploy(data, name, source, target.node)

        self.app.push_screen(DeployTarget(name), chosen)

    @work(exclusive=True, group="deploy", exit_on_error=False)
    async def deploy(
        self, data: dict[str, Any], name: str, source: str, entry: NodeEntry | None = None
    ) -> None:
        """Submit to ENTRY (default: the app's node); the app then talks to that node and shows
        the job."""
        from nosana_tui.client.node import NodeClient, NodeError

        app = nosana_app(self)
        entry = entry or app.node
        client, own = app.client, False
        if entry.url != app.node.url or entry.network != app.node.network:
            from nosana_tui.client.local import token_for

            try:
                client = NodeClient(entry.url, token_for(app.locations, entry.url, entry.token))
            except NodeError as err:
                self.notify(str(err), severity="error", timeout=10, markup=False)
                return
            own = True
        if client is None:
            self.notify("no node to deploy to yet", severity="error", markup=False)
            return
        try:
            view = await client.submit(data, name, source)
        except NodeError as err:
            self.notify(
                f"the node refused the job: {err}", severity="error", timeout=10, markup=False
            )
            return
        finally:
            if own:
                await client.close()
        self.notify(f"job {view.id} deployed on {entry.name}", markup=False)
        self.open_job(entry, view.id)

    @work(exclusive=True, group="deploy", exit_on_error=False)
    async def post(self, data: dict[str, Any], name: str, target: Target) -> None:
        """Post to the target's market (validated, pinned, listed with an idempotency key);
        the app then talks to the network and shows the job."""
        from nosana_tui.client import network as net
        from nosana_tui.client.network_node import (
            NetworkNodeClient,
            connect_network,
            network_config,
        )

        app = nosana_app(self)
        entry, market = target.network, target.market
        if entry is None or market is None:
            return
        current = app.client
        if isinstance(current, NetworkNodeClient) and app.node.network == entry.network:
            client, own = current, False
        else:
            client = connect_network(network_config(entry.network, app.locations.config_file))
            own = True
        try:
            posted = await client.post(data, market.address, target.timeout)
        except net.InvalidJob as err:
            problems = "; ".join(d.message for d in err.diagnostics[:3])
            self.notify(f"{err}: {problems}", severity="error", timeout=10, markup=False)
            return
        except net.NetworkError as err:
            self.notify(f"not posted: {err}", severity="error", timeout=12, markup=False)
            return
        finally:
            if own:
                await client.close()
        self.notify(
            f"job {posted.job} posted to {market.slug}; ${posted.credits.costUSD:,.2f} reserved",
            markup=False,
        )
        self.open_job(entry, posted.job)

    def open_job(self, entry: NodeEntry, job_id: str) -> None:
        from nosana_tui.ui.screens.job import JobScreen

        app = nosana_app(self)
        if entry.url != app.node.url or entry.network != app.node.network:
            app.switch_node(entry)  # the job's view follows it where it runs
        app.switch_mode("jobs")
        app.push_screen(JobScreen(job_id))
