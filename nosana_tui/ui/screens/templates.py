"""Templates: the library, a preview of the job (highlighted), its graph, its variables, Deploy.

A job or dstack file opened from disk (``nosana-tui FILE``) lands here too, at the top of the list.
Validation problems show in place, with the field path and line, before anything is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.syntax import Syntax
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

from nosana_tui.api.models import planned_view
from nosana_tui.client.node import NodeError
from nosana_tui.jobformat import templates as tpl
from nosana_tui.jobformat.diagnostics import OWN_RULE, Diagnostic, Severity, printable
from nosana_tui.jobformat.dstack.convert import convert_file
from nosana_tui.jobformat.secrets import redact
from nosana_tui.jobformat.validate import validate_file
from nosana_tui.ui.app import nosana_app
from nosana_tui.ui.sections import section_tabs
from nosana_tui.ui.widgets.graph import OpGraph
from nosana_tui.ui.widgets.nodebar import NodeBar


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
    if tpl.is_dstack_file(path):
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
    ]

    def __init__(self) -> None:
        super().__init__()
        self.templates: list[tpl.Template] = []
        self.current: tpl.Template | None = None
        self.file: Path | None = None
        self.rendered: Rendered | None = None

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
        self.templates, problems = tpl.load_library(app.locations.templates_dir)
        for problem in problems:
            self.notify(problem, severity="warning", markup=False)
        self.fill_list("")
        self.query_one("#template-list", OptionList).focus()

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
            self.show(_render_file(self.file), self.file.name, "a file from disk")
            await self.fill_variables(None)
            return
        template = next((t for t in self.templates if t.id == option_id), None)
        if template is None:
            return
        self.current = template
        await self.fill_variables(template)
        self.show(_render(template, {}), template.name, template.description)

    @on(OptionList.OptionSelected, "#template-list")
    def selected(self) -> None:
        self.action_show_tab("variables" if self.current and self.current.variables else "job")

    # --- preview ------------------------------------------------------------------------------

    def show(self, rendered: Rendered, title: str, description: str) -> None:
        self.rendered = rendered
        self.query_one("#template-title", Label).update(
            Text.assemble((title, "bold"), "  ", (description, "italic"))
        )
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
            job_text = Syntax(
                json.dumps(redact(rendered.data), indent=2),
                "json",
                theme="ansi_dark" if self.app.current_theme.dark else "ansi_light",
                word_wrap=True,
                background_color="default",
            )
            from nosana_tui.jobformat.model import JobDefinition

            graph.job = planned_view("preview", JobDefinition.model_validate(rendered.data))
        else:
            graph.job = None
        self.query_one("#template-job", Static).update(job_text)

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
        rendered = self.rendered
        if rendered is None or rendered.data is None:
            self.notify("nothing to deploy: the job has errors", severity="error", markup=False)
            return
        name = self.current.id if self.current else (self.file.name if self.file else "job")
        self.deploy(rendered.data, name, rendered.source)

    @work(exclusive=True, group="deploy", exit_on_error=False)
    async def deploy(self, data: dict[str, Any], name: str, source: str) -> None:
        app = nosana_app(self)
        client = app.client
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
        self.notify(f"job {view.id} deployed on {app.node.name}", markup=False)
        from nosana_tui.ui.screens.job import JobScreen

        app.switch_mode("jobs")
        app.push_screen(JobScreen(view.id))
