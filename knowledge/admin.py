"""Django admin for the FAQ store: FAQs with inline paraphrases and variants, bulk approval,
import/export, hit counts; and for the knowledge base: documents with their chunks, imports and
crawls with their progress and errors."""

import json
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import translation
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

from knowledge import services
from knowledge.admin_languages import (
    LanguageFilter,
    language_choices,
    language_column,
    language_name,
)
from knowledge.content_version import knowledge_version_bump
from knowledge.documents.error_text import import_error_text
from knowledge.documents.types import DocumentError, document_url
from knowledge.generation import (
    fail_stale_jobs,
    faqs_being_generated,
    job_error_text,
    jobs_create,
    shortfall_text,
)
from knowledge.importing import (
    ImportError_,
    example_csv,
    export_faqs,
    export_faqs_csv,
    import_faqs,
    parse_upload,
)
from knowledge.models import (
    FAQ,
    AnswerVariant,
    Chunk,
    Document,
    DocumentImport,
    GenerationJob,
    NegativeExample,
    OutputRule,
    Paraphrase,
    RuleTemplate,
    Visibility,
)
from knowledge.negative_store import negatives_confirm, negatives_dismiss
from knowledge.selectors import faqs_asking, faqs_on_document, one_line
from knowledge.variant_check import VariantCheck, variant_check


def _admin_locale() -> str:
    """The site language of the admin user's language, for what they create."""
    language = translation.get_language() or ""
    codes = [code for code, _name in settings.LANGUAGES]
    return next((c for c in codes if language.startswith(c[:2])), "en")


class ContentAdmin(admin.ModelAdmin):
    """Any change to FAQ content made here moves the knowledge version, so every process's
    index reloads and cached answers built on the old content stop being served (services do
    the same for the changes they make). The version moves when the admin's transaction
    commits: moved earlier, another process could reload the old rows under the new version
    and keep them."""

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        transaction.on_commit(knowledge_version_bump)

    def delete_model(self, request: HttpRequest, obj) -> None:
        super().delete_model(request, obj)
        transaction.on_commit(knowledge_version_bump)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        super().delete_queryset(request, queryset)
        transaction.on_commit(knowledge_version_bump)


def _variant_check(variant: AnswerVariant) -> VariantCheck:
    return variant_check(canonical=variant.faq.answer, variant=variant.text)


def _fact_check_label(variant: AnswerVariant) -> str:
    if not variant.pk or not variant.faq_id:
        return ""
    check = _variant_check(variant)
    return gettext("ok") if check.ok else gettext("flagged: ") + check.summary()


def _status_message(count: int, status: str) -> str:
    """The bulk status change's confirmation, e.g. "3 variant(s) rejected."."""
    messages_by_status = {
        AnswerVariant.Status.APPROVED: gettext("%(count)s variant(s) approved."),
        AnswerVariant.Status.REJECTED: gettext("%(count)s variant(s) rejected."),
    }
    fallback = gettext("%(count)s variant(s) %(status)s.")
    return messages_by_status.get(status, fallback) % {"count": count, "status": status}


def review_context(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    selected,
    *,
    title: str,
    rows: list,
    submit_label: str,
    nothing_to_submit: bool = False,
) -> dict:
    """The context of a bulk action's review page, whose form
    (admin/includes/action_confirm_form.html) posts the selection again with
    `confirm_approval=yes`."""
    return {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "rows": rows,
        "submit_label": submit_label,
        "nothing_to_submit": nothing_to_submit,
        "selected_ids": [str(pk) for pk in selected.values_list("pk", flat=True)],
        "action": request.POST.get("action", ""),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }


def approve_after_review(
    model_admin: admin.ModelAdmin, request: HttpRequest, selected, variants
) -> HttpResponse | None:
    """Bulk approval in two steps: a page showing every variant's text beside its FAQ's answer
    and what the fact check found, then approval of the ones it did not flag. A flagged variant
    is approved one at a time from its own page, by a person who has read it."""
    variants = list(variants.select_related("faq"))
    checked = [(variant, _variant_check(variant)) for variant in variants]
    flagged_count = sum(not check.ok for _, check in checked)
    approvable = len(checked) - flagged_count
    if request.POST.get("confirm_approval") != "yes":
        submit_label = gettext("Approve %(count)s variant(s)") % {"count": approvable} + (
            gettext(", leave %(count)s flagged") % {"count": flagged_count} if flagged_count else ""
        )
        context = review_context(
            model_admin,
            request,
            selected,
            title=gettext("Approve answer variants"),
            rows=checked,
            submit_label=submit_label,
            nothing_to_submit=approvable == 0,  # "Approve 0 variant(s)" did nothing
        )
        return render(request, "admin/knowledge/answervariant/approve_review.html", context)
    clean = [variant for variant, check in checked if check.ok]
    count = services.variants_set_status(
        variant_ids=[v.pk for v in clean], status=AnswerVariant.Status.APPROVED
    )
    for variant in clean:  # bulk actions leave no admin history by themselves
        model_admin.log_change(request, variant, "Approved (bulk, after review).")
    model_admin.message_user(request, gettext("%(count)s variant(s) approved.") % {"count": count})
    flagged = [variant for variant, check in checked if not check.ok]
    if flagged:
        model_admin.message_user(
            request,
            gettext(
                "%(count)s flagged variant(s) left as they were: open each one, read it and "
                "approve it there if it is right."
            )
            % {"count": len(flagged)},
            level=messages.WARNING,
        )
    return None


# Inline text boxes that fit the page: Django's default textarea is 40 columns wide, which
# with five more columns pushed the variants past the right edge (issue 20).
class _FittingText:
    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "text":
            kwargs["widget"] = forms.Textarea(attrs={"rows": 3, "class": "inline-text"})
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class ParaphraseInline(_FittingText, admin.TabularInline):
    model = Paraphrase
    extra = 1
    fields = ("text", "origin", "approved", "has_embedding")
    readonly_fields = ("has_embedding",)

    @admin.display(boolean=True, description=_("embedded"))
    def has_embedding(self, obj: Paraphrase) -> bool:
        return bool(obj.embedding)


class AnswerVariantInline(_FittingText, admin.TabularInline):
    model = AnswerVariant
    extra = 0
    fields = ("text", "status", "fact_check", "origin", "created_by", "served_count")
    readonly_fields = ("fact_check", "served_count")

    @admin.display(description=_("fact check"))
    def fact_check(self, obj: AnswerVariant) -> str:
        return _fact_check_label(obj)


class CommaTagsField(forms.CharField):
    """Tags typed as a comma list, kept as a list (stored as a JSON list): a raw JSON box
    answered "shipping, returns" with "Enter a valid JSON"."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("label", _("Tags"))
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", _("Separated by commas, e.g. shipping, returns."))
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 60}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value) -> list[str]:
        tags: list[str] = []
        for tag in super().to_python(value).split(","):
            tag = tag.strip()
            if len(tag) > 50:
                raise forms.ValidationError(
                    gettext("A tag is at most 50 characters: %(tag)s…") % {"tag": tag[:50]}
                )
            if tag and tag not in tags:
                tags.append(tag)
        return tags


class FAQForm(forms.ModelForm):
    """Tags as a comma list (they are stored as a JSON list) and the locale as one of the
    languages the site speaks; both were raw text boxes (a JSON list, a free locale code)."""

    tags = CommaTagsField()
    locale = forms.ChoiceField(label=_("Locale"), choices=language_choices())

    class Meta:
        model = FAQ
        fields = ("question", "answer", "locale", "tags", "active", "source_document")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        known = dict(settings.LANGUAGES)
        if self.instance.locale and self.instance.locale not in known:  # an imported oddity
            self.fields["locale"].choices = [
                *language_choices(),
                (self.instance.locale, self.instance.locale),
            ]

    def clean_question(self) -> str:
        return one_line(self.cleaned_data["question"])

    def clean(self) -> dict:
        data = super().clean()
        question, locale = data.get("question"), data.get("locale")
        if question and locale:
            twins = faqs_asking(locale=locale, question=question).exclude(pk=self.instance.pk)
            twin = twins.values_list("question", flat=True).first()
            if twin is not None:  # two FAQs for one question split its matches: neither answers
                exists = gettext("This FAQ exists already: “%(question)s”.")
                self.add_error("question", exists % {"question": twin})
        document = data.get("source_document")
        if document is not None and document.visibility != Visibility.PUBLIC:
            # Its link would never show: a visitor is not sent to an agents-only page (an
            # agent's walk linked one without a word from the form).
            self.add_error(
                "source_document",
                gettext("This document is for agents only: visitors would never see its link."),
            )
        if document is not None and data.get("locale") and document.locale != data["locale"]:
            self.add_error(
                "source_document",
                gettext("This document is in %(document)s; the FAQ is in %(faq)s.")
                % {"document": document.locale, "faq": data["locale"]},
            )
        return data


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "A JSON file in the format of docs/faq-format.md, or a CSV file (.csv) with "
            "the columns question, answer, locale, tags, active, paraphrases, variants."
        ),
    )


# An FAQ answers rewordings of the phrasings it has: with fewer, visitors' other wordings go to
# the model. The benchmark's stores have 5-7 phrasings per FAQ and answer 9-18% of rewordings
# (Chinese 8%); 5 more per FAQ from handoffs took CLINC150 from 9% to 16% (docs/benchmarks.md).
# A Chinese shop's owner was never told (a walk): the FAQ list says it.
FEW_PHRASINGS = 5


class PhrasingsFilter(admin.SimpleListFilter):
    title = _("phrasings")
    parameter_name = "phrasings"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("few", gettext("fewer than %(count)s") % {"count": FEW_PHRASINGS}),
            ("enough", gettext("%(count)s or more") % {"count": FEW_PHRASINGS}),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[FAQ]) -> QuerySet[FAQ]:
        if self.value() == "few":
            return queryset.filter(phrasing_count__lt=FEW_PHRASINGS)
        if self.value() == "enough":
            return queryset.filter(phrasing_count__gte=FEW_PHRASINGS)
        return queryset


class StaleJobsFailed:
    """Pages that show generation jobs mark those whose worker died failed first: the FAQ list
    read "running" for one until someone clicked Generate (a walk)."""

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        fail_stale_jobs()
        return super().changelist_view(request, extra_context)

    def change_view(self, request: HttpRequest, object_id: str, *args, **kwargs):
        fail_stale_jobs()
        return super().change_view(request, object_id, *args, **kwargs)


@admin.register(FAQ)
class FAQAdmin(StaleJobsFailed, ContentAdmin):
    list_display = (
        "question",
        language_column,
        "active",
        "phrasings",
        "source_document",
        "hit_count",
        "last_hit_at",
        "approved_variants",
        "draft_variants",
        "last_generation",
    )
    list_filter = (LanguageFilter, "active", PhrasingsFilter)
    list_select_related = ("source_document",)
    search_fields = ("question", "answer", "paraphrases__text")
    form = FAQForm
    fields = (
        "question",
        "answer",
        "locale",
        "tags",
        "active",
        "source_document",
        "hit_count",
        "last_hit_at",
    )
    readonly_fields = ("hit_count", "last_hit_at")  # counted by serving, not typed
    autocomplete_fields = ("source_document",)
    inlines = [ParaphraseInline, AnswerVariantInline]
    actions = [
        "generate_variants",
        "approve_draft_variants",
        "reject_draft_variants",
        "export_selected",
        "export_selected_csv",
    ]
    change_list_template = "admin/knowledge/faq/change_list.html"

    class Media:
        css = {"all": ("knowledge/faq-admin.css",)}

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        """A new FAQ in the admin user's language: it defaulted to English, and a Chinese
        question filed as English is matched by the wrong model and never answered."""
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("locale", _admin_locale())
        return initial

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        return super().changelist_view(
            request, {"few_phrasings": FEW_PHRASINGS, **(extra_context or {})}
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[FAQ]:
        approved = Q(paraphrases__approved=True)
        return (
            super()
            .get_queryset(request)
            .annotate(phrasing_count=Count("paraphrases", filter=approved, distinct=True))
        )

    @admin.display(description=_("phrasings"), ordering="phrasing_count")
    def phrasings(self, obj: FAQ) -> str:
        """Approved phrasings, the question included; marked when they are few."""
        count = obj.phrasing_count
        if count >= FEW_PHRASINGS:
            return str(count)
        return format_html(
            '<span class="faq-few-phrasings" title="{}">{} · {}</span>',
            gettext(
                "Questions worded unlike these phrasings go to the model: add at least "
                "%(count)s (Chinese questions need more), or generate drafts and approve them."
            )
            % {"count": FEW_PHRASINGS},
            count,
            gettext("few"),
        )

    @admin.display(description=_("approved variants"))
    def approved_variants(self, obj: FAQ) -> int:
        return obj.variants.filter(status=AnswerVariant.Status.APPROVED).count()

    @admin.display(description=_("drafts"))
    def draft_variants(self, obj: FAQ) -> int:
        return obj.variants.filter(status=AnswerVariant.Status.DRAFT).count()

    @admin.display(description=_("generation"))
    def last_generation(self, obj: FAQ) -> str:
        job = obj.generation_jobs.first()
        if job is None:
            return "—"
        if job.status == GenerationJob.Status.DONE:
            done = gettext("done: %(answers)s answer(s), %(paraphrases)s paraphrase(s)") % {
                "answers": job.answers_created,
                "paraphrases": job.paraphrases_created,
            }
            why = shortfall_text(job)
            return f"{done} ({why})" if why else done
        if job.status == GenerationJob.Status.FAILED:
            return gettext("failed: %(why)s") % {"why": job_error_text(job.error)}
        shown = {
            GenerationJob.Status.QUEUED: gettext("queued"),
            GenerationJob.Status.RUNNING: gettext("running"),
        }
        return shown.get(job.status, job.status)

    @admin.action(description=_("Generate answer variants and paraphrases (drafts)"))
    def generate_variants(self, request: HttpRequest, queryset) -> None:
        selected = list(queryset.values_list("pk", flat=True))
        busy = faqs_being_generated(selected)
        jobs = jobs_create(
            faq_ids=[pk for pk in selected if pk not in busy],
            answers=3,
            paraphrases=5,
            requested_by=request.user.get_username(),
            off_request=True,
        )
        if jobs:
            self.message_user(
                request,
                gettext(
                    "Generating variants for %(count)s FAQ(s); progress in the generation column "
                    "and under Generation jobs."
                )
                % {"count": len(jobs)},
            )
        if busy:
            self.message_user(
                request,
                gettext("Already generating for %(count)s FAQ(s): no second job was started.")
                % {"count": len(busy)},
                messages.WARNING,
            )

    def save_model(self, request: HttpRequest, obj: FAQ, form, change: bool) -> None:
        answer_changed = not change or "answer" in form.changed_data
        super().save_model(request, obj, form, change)
        services.faq_sync_canonical(
            faq=obj, answer_changed=answer_changed, created_by=request.user.get_username()
        )

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        faq = form.instance
        count = faq.paraphrases.filter(approved=True).count() if faq.active else FEW_PHRASINGS
        if count < FEW_PHRASINGS:
            # A lead activated an agent's draft, its question its only phrasing, and the next
            # customer's wording of it went to the model: the list's mark was all that said so.
            self.message_user(
                request,
                gettext(
                    "“%(question)s” has %(count)s phrasing(s): questions worded unlike them go to "
                    "the model, and with one only near-repeats of it are answered. Add at least "
                    "%(few)s, or generate drafts and approve them."
                )
                % {"question": faq.question, "count": count, "few": FEW_PHRASINGS},
                messages.WARNING,
            )

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        instances = formset.save()
        new_paraphrases = [i.pk for i in instances if isinstance(i, Paraphrase)]
        if new_paraphrases:
            services._enqueue_embeddings(new_paraphrases)
        transaction.on_commit(knowledge_version_bump)

    def _set_draft_variants(self, request: HttpRequest, queryset, status: str) -> None:
        ids = AnswerVariant.objects.filter(
            faq__in=queryset, status=AnswerVariant.Status.DRAFT
        ).values_list("pk", flat=True)
        count = services.variants_set_status(variant_ids=list(ids), status=status)
        self.message_user(request, _status_message(count, status))

    @admin.action(
        description=_("Approve draft answer variants of the selected FAQs (after review)"),
        permissions=["change"],
    )
    def approve_draft_variants(self, request: HttpRequest, queryset) -> HttpResponse | None:
        drafts = AnswerVariant.objects.filter(faq__in=queryset, status=AnswerVariant.Status.DRAFT)
        return approve_after_review(self, request, queryset, drafts)

    @admin.action(
        description=_("Reject draft answer variants of the selected FAQs"), permissions=["change"]
    )
    def reject_draft_variants(self, request: HttpRequest, queryset) -> None:
        self._set_draft_variants(request, queryset, AnswerVariant.Status.REJECTED)

    @admin.action(description=_("Export the selected FAQs as JSON"))
    def export_selected(self, request: HttpRequest, queryset) -> HttpResponse:
        response = HttpResponse(
            json.dumps(export_faqs(queryset), ensure_ascii=False, indent=2),
            content_type="application/json",
        )
        response["Content-Disposition"] = 'attachment; filename="faqs.json"'
        return response

    @admin.action(description=_("Export the selected FAQs as CSV (for Excel)"))
    def export_selected_csv(self, request: HttpRequest, queryset) -> HttpResponse:
        response = HttpResponse(
            export_faqs_csv(queryset.prefetch_related("paraphrases", "variants")),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="faqs.csv"'
        return response

    def get_urls(self):
        return [
            path(
                "import/", self.admin_site.admin_view(self.import_view), name="knowledge_faq_import"
            ),
            path(
                "import/example.csv",
                self.admin_site.admin_view(self.import_example_view),
                name="knowledge_faq_import_example",
            ),
            *super().get_urls(),
        ]

    def import_example_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perms(["knowledge.add_faq", "knowledge.change_faq"]):
            raise PermissionDenied  # the import page's own permissions
        response = HttpResponse(example_csv(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="faqs-example.csv"'
        return response

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Creates and rewrites FAQs and their live answers: the model permissions it changes
        are checked here (admin_view only checks is_staff)."""
        if not request.user.has_perms(["knowledge.add_faq", "knowledge.change_faq"]):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                data = parse_upload(upload.name, upload.read())
                result = import_faqs(data, created_by=request.user.get_username())
            except ImportError_ as exc:
                for error in exc.errors:
                    messages.error(request, error)
            else:
                messages.success(
                    request,
                    gettext("Imported: %(created)s new, %(updated)s updated.")
                    % {"created": result.created, "updated": result.updated},
                )
                if result.held_back:
                    messages.warning(
                        request,
                        gettext(
                            "%(count)s answer variant(s) the fact check flagged were kept as "
                            "drafts, not approved: read them under Answer variants."
                        )
                        % {"count": result.held_back},
                    )
                return redirect("admin:knowledge_faq_changelist")
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": gettext("Import FAQs"),
            "opts": self.model._meta,
        }
        return render(request, "admin/knowledge/faq/import.html", context)


@admin.register(AnswerVariant)
class AnswerVariantAdmin(ContentAdmin):
    list_display = ("text", "faq", "status", "fact_check", "origin", "served_count", "updated_at")
    list_filter = ("status", "origin", "faq__locale")
    list_select_related = ("faq",)
    search_fields = ("text", "faq__question")
    readonly_fields = ("canonical_answer", "fact_check")
    actions = ["approve", "reject"]

    @admin.display(description=_("canonical answer"))
    def canonical_answer(self, obj: AnswerVariant) -> str:
        return obj.faq.answer if obj.faq_id else ""

    @admin.display(description=_("fact check"))
    def fact_check(self, obj: AnswerVariant) -> str:
        return _fact_check_label(obj)

    def _set_status(self, request: HttpRequest, queryset, status: str) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        count = services.variants_set_status(variant_ids=ids, status=status)
        self.message_user(request, _status_message(count, status))

    @admin.action(description=_("Approve selected variants (after review)"), permissions=["change"])
    def approve(self, request: HttpRequest, queryset) -> HttpResponse | None:
        return approve_after_review(self, request, queryset, queryset)

    @admin.action(description=_("Reject selected variants"), permissions=["change"])
    def reject(self, request: HttpRequest, queryset) -> None:
        self._set_status(request, queryset, AnswerVariant.Status.REJECTED)


class LocaleChoiceAdmin(ContentAdmin):
    """The locale as a choice of the site's languages: typed as text, "中文" was saved and
    matched no conversation (a walk)."""

    any_locale = False  # whether "every language" (empty) is a choice

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name != "locale":
            return super().formfield_for_dbfield(db_field, request, **kwargs)
        choices = [
            *([("", gettext("Every language"))] if self.any_locale else []),
            *language_choices(),
        ]
        return forms.ChoiceField(
            choices=choices,
            required=not self.any_locale,
            label=db_field.verbose_name,
            help_text=db_field.help_text,
            initial=db_field.default if isinstance(db_field.default, str) else "",
        )


@admin.register(OutputRule)
class OutputRuleAdmin(LocaleChoiceAdmin):
    """What model-written answers may not say; saving moves the knowledge version, so every
    process reloads the rules and cached answers made under the old ones stop being served."""

    list_display = ("name", "kind", "locale", "active", "updated_at")
    list_filter = ("kind", "locale", "active")
    search_fields = ("name", "lines")
    any_locale = True


@admin.register(RuleTemplate)
class RuleTemplateAdmin(LocaleChoiceAdmin):
    list_display = ("name", "locale", "priority", "active", "updated_at")
    list_filter = ("locale", "active")
    search_fields = ("name", "patterns", "text")


@admin.register(GenerationJob)
class GenerationJobAdmin(StaleJobsFailed, admin.ModelAdmin):
    list_display = (
        "faq",
        "status",
        "answers_created",
        "paraphrases_created",
        "shortfall",
        "model",
        "error_reading",
        "created_at",
        "finished_at",
    )
    list_filter = ("status",)
    readonly_fields = [f.name for f in GenerationJob._meta.fields if f.name != "dropped"] + [
        "shortfall",
        "error_reading",
    ]
    exclude = ("dropped",)

    @admin.display(description=_("what went wrong"))
    def error_reading(self, obj: GenerationJob) -> str:
        return job_error_text(obj.error) if obj.error else "—"

    @admin.display(description=_("why fewer drafts"))
    def shortfall(self, obj: GenerationJob) -> str:
        return shortfall_text(obj) or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# --- Documents ------------------------------------------------------------------------------


class ChunkInline(admin.TabularInline):
    """The chunks retrieval searches, as indexed: read-only (they follow the document)."""

    model = Chunk
    extra = 0
    can_delete = False
    fields = ("position", "headings", "text", "token_count", "embedding_model")
    readonly_fields = fields

    @admin.display(description=_("heading path"))
    def headings(self, obj: Chunk) -> str:
        return " › ".join(obj.heading_path)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        """Chunks are part of the document: whoever may see it sees them."""
        return request.user.has_perm("knowledge.view_document")

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class DocumentForm(forms.ModelForm):
    tags = CommaTagsField()
    locale = forms.ChoiceField(
        choices=language_choices(),
        label=_("Locale"),
        help_text=_(
            "The language its visitors ask in; changing it indexes the document again with "
            "that language's model (a page read as the wrong language is never found)."
        ),
    )

    class Meta:
        model = Document
        fields = ("locale", "visibility", "tags")


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    """Documents come from imports and crawls; here editors see their chunks, change who sees
    them, re-index or delete them (both move the knowledge version)."""

    form = DocumentForm

    list_display = (
        "title",
        "source",
        language_column,
        "visibility",
        "status",
        "version",
        "chunk_count",
        "cited_count",
        "suggested_count",
        "updated_at",
    )
    list_filter = (LanguageFilter, "visibility", "status")
    search_fields = ("title", "source_key", "tags")
    fields = (
        "title",
        "source_key",
        "source_url",
        "locale",
        "visibility",
        "tags",
        "version",
        "status",
        "error",
        "content_hash",
        "etag",
        "last_modified",
        "source_import",
        "edit_text",
        "faqs_to_review",
        "cited_count",
        "suggested_count",
        "questions_answered",
        "last_cited_at",
        "created_at",
        "updated_at",
        "indexed_at",
    )
    readonly_fields = tuple(f for f in fields if f not in ("locale", "visibility", "tags"))
    questions_per_page = 50
    inlines = [ChunkInline]
    actions = ["reindex"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(_chunks=Count("chunks"))

    @admin.display(description=_("chunks"), ordering="_chunks")
    def chunk_count(self, obj: Document) -> int:
        return obj._chunks

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def view_on_site(self, obj: Document) -> str:
        """The page its citations link to (a writer found no way from the admin to the
        article visitors see); an agents-only file's help page opens for staff only."""
        return document_url(document_id=obj.pk, source_url=obj.source_url)

    def save_model(self, request: HttpRequest, obj: Document, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if "locale" in form.changed_data:  # chunked and embedded for another language
            services.documents_reindex(document_ids=[obj.pk])
        transaction.on_commit(knowledge_version_bump)  # visibility decides who sees it

    def delete_model(self, request: HttpRequest, obj: Document) -> None:
        services.document_delete(document=obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for document in queryset:
            services.document_delete(document=document)

    @admin.display(description=_("questions answered or suggested from this"))
    def questions_answered(self, obj: Document) -> str:
        if not obj.pk:
            return "-"
        url = reverse("admin:knowledge_document_questions", args=[obj.pk])
        counts = obj.citations.aggregate(
            cited=Count("id", filter=Q(suggested=False)),
            suggested=Count("id", filter=Q(suggested=True)),
        )
        label = gettext("%(cited)s cited it, %(suggested)s suggested it") % counts
        return format_html('<a href="{}">{}</a>', url, label)

    def get_urls(self):
        return [
            path(
                "<id:document_id>/questions/",
                self.admin_site.admin_view(self.questions_view),
                name="knowledge_document_questions",
            ),
            path(
                "write/",
                self.admin_site.admin_view(self.write_view),
                name="knowledge_document_write",
            ),
            path(
                "<id:document_id>/write/",
                self.admin_site.admin_view(self.write_view),
                name="knowledge_document_rewrite",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=_("source"), ordering="source_key")
    def source(self, obj: Document) -> str:
        """Tells documents of one title apart (a walk's list had three "Gift wrapping")."""
        if obj.written_in_admin:
            return gettext("written in the admin")
        return obj.source_url or obj.source_key

    @admin.display(description=_("FAQs on the same topic"))
    def faqs_to_review(self, obj: Document) -> str:
        """The FAQs to review when the article changes (they answer before it does)."""
        if not obj.pk:
            return "-"
        faqs = faqs_on_document(obj)
        if not faqs:
            return gettext("None of the active FAQs.")
        links = format_html_join(
            mark_safe("<br>"),
            '<a href="{}">{}</a>',
            ((reverse("admin:knowledge_faq_change", args=[f.pk]), f.question) for f in faqs),
        )
        note = gettext("They answer before the article does: check them when you change it.")
        return format_html('{}<div class="help">{}</div>', links, note)

    @admin.display(description=_("text"))
    def edit_text(self, obj: Document) -> str:
        if obj.pk and obj.written_in_admin:
            url = reverse("admin:knowledge_document_rewrite", args=[obj.pk])
            return format_html('<a href="{}">{}</a>', url, gettext("Edit the text"))
        return gettext("Imported: change its file or page and import or crawl it again.")

    def write_view(self, request: HttpRequest, document_id: int | None = None) -> HttpResponse:
        """An article written here in Markdown, or one written here edited; imported documents
        are changed at their source."""
        document = None
        if document_id is not None:
            document = get_object_or_404(
                Document, pk=document_id, source_key__startswith=Document.WRITTEN_PREFIX
            )
        if not request.user.has_perm(
            "knowledge.change_document" if document else "knowledge.add_document"
        ):
            raise PermissionDenied
        # The language is guessed from the text unless chosen: a Chinese admin's English
        # article, saved under the admin's language, never reached English visitors (a walk).
        initial = {}
        if document is not None:
            initial = {
                "title": document.title,
                "text": document.written_text,
                "locale": document.locale,
                "visibility": document.visibility,
                "tags": ", ".join(document.tags),
            }
        form = DocumentWriteForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                result = services.document_write(
                    title=data["title"],
                    text=data["text"],
                    locale=data["locale"],
                    visibility=data["visibility"],
                    tags=data["tags"],
                    document=document,
                )
            except DocumentError as exc:
                form.add_error("text", exc.message)
            else:
                written = result.document
                saved = (
                    gettext("Saved: visitors get it once it is indexed, in seconds.")
                    if written.visibility == Visibility.PUBLIC
                    else gettext(
                        "Saved for agents only: they find it in the console once it is indexed, "
                        "in seconds; visitors and the bot's answers never show it."
                    )
                )
                messages.success(request, saved)
                twin = services.document_same_title(written)
                if twin is not None and written.visibility == Visibility.PUBLIC:
                    other = reverse("admin:knowledge_document_change", args=[twin.pk])
                    warning = gettext(
                        '“%(title)s” has the same title as <a href="%(other)s">another '
                        "article of its language</a>: visitors are shown both; delete one if "
                        "this replaces it."
                    )  # the catalogue's markup, the values escaped (as blocktranslate does)
                    values = {"title": escape(written.title), "other": escape(other)}
                    messages.warning(request, mark_safe(warning % values))  # noqa: S308
                return redirect("admin:knowledge_document_change", written.pk)
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": gettext("Edit “%(title)s”") % {"title": document.title}
            if document
            else gettext("Write an article"),
            "document": document,
            "opts": self.model._meta,
        }
        return render(request, "admin/knowledge/document/write.html", context)

    def questions_view(self, request: HttpRequest, document_id: int) -> HttpResponse:
        """The visitors' questions whose answers cited the document, newest first, each linked
        to its conversation; visitor text, so it also needs the permission to view
        conversations."""
        if not (
            request.user.has_perm("knowledge.view_document")
            and request.user.has_perm("chatbot.view_conversation")
        ):
            raise PermissionDenied
        document = get_object_or_404(Document, pk=document_id)
        page = Paginator(document.citations.all(), self.questions_per_page).get_page(
            request.GET.get("page")
        )
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Questions answered or suggested from “%(title)s”")
            % {"title": document.title},
            "document": document,
            "page": page,
            "opts": self.model._meta,
        }
        return render(request, "admin/knowledge/document/questions.html", context)

    @admin.action(description=_("Re-index the selected documents"), permissions=["change"])
    def reindex(self, request: HttpRequest, queryset) -> None:
        count = services.documents_reindex(document_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, gettext("Re-indexing %(count)s document(s).") % {"count": count})


class DocumentOptionsForm(forms.Form):
    locale = forms.ChoiceField(
        label=_("Locale"),
        choices=[("", _("Guess from the text")), *language_choices()],
        required=False,
    )
    visibility = forms.ChoiceField(
        label=_("Visibility"), choices=Visibility.choices, initial=Visibility.PUBLIC
    )
    tags = CommaTagsField(help_text=_("Comma-separated."))

    def options(self) -> dict:
        data = self.cleaned_data
        return {"locale": data["locale"], "visibility": data["visibility"], "tags": data["tags"]}


class DocumentWriteForm(DocumentOptionsForm):
    title = forms.CharField(label=_("Title"), max_length=500)
    text = forms.CharField(
        label=_("Text"),
        widget=forms.Textarea(attrs={"rows": 24, "cols": 100}),
        help_text=_(
            "Markdown: ## a section heading, - a list item (two spaces more for a sub-item), "
            "[words](https://…) a link, | a table row."
        ),
    )
    field_order = ["title", "text", "locale", "visibility", "tags"]


class DocumentUploadForm(DocumentOptionsForm):
    file = forms.FileField(
        label=_("File"), help_text=_("Markdown, HTML, plain text or PDF; or a zip of them.")
    )
    field_order = ["file"]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.KNOWLEDGE_MAX_UPLOAD_BYTES:
            limit = settings.KNOWLEDGE_MAX_UPLOAD_BYTES // (1024 * 1024)
            raise forms.ValidationError(
                gettext("The file is larger than %(limit)s MB.") % {"limit": limit}
            )
        return upload


class CrawlForm(DocumentOptionsForm):
    start_url = forms.URLField(
        label=_("Start URL"),
        assume_scheme="https",
        help_text=_("Pages on this host under this address are crawled."),
    )
    max_pages = forms.IntegerField(label=_("Max pages"), min_value=1, max_value=10000)
    max_depth = forms.IntegerField(label=_("Max depth"), min_value=0, max_value=50)
    max_seconds = forms.FloatField(label=_("Max seconds"), min_value=1, max_value=3600)
    field_order = ["start_url"]

    def clean_start_url(self) -> str:
        """Django's URL field takes ftp:// too, and a port past 65535; the crawler takes
        neither. A user name and password would be stored and shown as the import's source."""
        url = self.cleaned_data["start_url"]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise forms.ValidationError(gettext("Only http:// and https:// sites can be crawled."))
        if parts.username or parts.password:
            raise forms.ValidationError(
                gettext(
                    "Leave the user name and password out of the address: sites behind a login "
                    "cannot be crawled."
                )
            )
        try:
            parts.port  # noqa: B018 - raises on a port that is not one
        except ValueError:
            raise forms.ValidationError(
                gettext("The port must be a number from 1 to 65535.")
            ) from None
        return url

    def options(self) -> dict:
        data = self.cleaned_data
        limits = {name: data[name] for name in ("max_pages", "max_depth", "max_seconds")}
        return {**super().options(), "limits": limits}


@admin.register(DocumentImport)
class DocumentImportAdmin(admin.ModelAdmin):
    """Imports and crawls with their progress and the error of every file or page; the import
    and crawl pages start new ones (permission: add documents)."""

    list_display = (
        "__str__",
        "status",
        "seen",
        "created",
        "updated",
        "unchanged",
        "failed",
        "problem_count",
        "waiting",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("kind", "status")
    search_fields = ("source",)
    fields = (
        "kind",
        "source",
        "status",
        "seen",
        "created",
        "updated",
        "unchanged",
        "failed",
        "waiting",
        "error_list",
        "options_text",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields
    change_list_template = "admin/knowledge/documentimport/change_list.html"
    change_form_template = "admin/knowledge/documentimport/change_form.html"  # reloads if running

    def get_queryset(self, request: HttpRequest) -> QuerySet[DocumentImport]:
        pending = Q(documents__status=Document.Status.PENDING)
        return (
            super().get_queryset(request).annotate(waiting_count=Count("documents", filter=pending))
        )

    @admin.display(description=_("waiting to be indexed"), ordering="waiting_count")
    def waiting(self, obj: DocumentImport) -> int:
        """An import is done once it has read its files; its documents are searchable once
        indexed, in tasks of their own. An owner read "Done" while a document waited for a task
        its killed worker had taken (redelivered after the broker's hour; Re-index does it now)."""
        return obj.waiting_count

    @admin.display(description=_("problems"))
    def problem_count(self, obj: DocumentImport) -> int:
        """Failed and skipped together: a skipped page (robots.txt, a private address) is not
        counted as failed, and the list showed nothing wrong."""
        return len(obj.errors)

    @admin.display(description=_("options"))
    def options_text(self, obj: DocumentImport) -> str:
        """As the import's form asked for them, by its labels (an owner read the stored JSON,
        `{"locale": "", "visibility": "public", "tags": []}`, in either language)."""
        options = obj.options or {}
        locale = options.get("locale")
        lines = [
            (_("Locale"), language_name(locale) if locale else gettext("Guess from the text")),
            (_("Visibility"), Visibility(options.get("visibility", Visibility.PUBLIC)).label),
            (_("Tags"), ", ".join(options.get("tags") or ()) or "—"),
        ]
        limits = options.get("limits") or {}
        lines += [
            (CrawlForm.base_fields[name].label, limits[name])
            for name in ("max_pages", "max_depth", "max_seconds")
            if name in limits
        ]
        label_and_value = pgettext("a label and its value", "{}: {}")  # Chinese: a full-width colon
        return format_html_join(mark_safe("<br>"), label_and_value, lines)

    @admin.display(description=_("problems and notices"))
    def error_list(self, obj: DocumentImport) -> str:
        """Each file or page with what happened to it, in the reader's language; the stored
        code and English in the tooltip, for support (a Chinese writer read `same_title`,
        `gone` in a column of their own)."""
        if not obj.errors:
            return "—"
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td title="{}">{}</td></tr>',
            (
                (
                    e.get("name", ""),
                    f"{e.get('code', '')}: {e.get('message', '')}",
                    import_error_text(e),
                )
                for e in obj.errors
            ),
        )
        return format_html(
            '<table class="import-errors"><tr><th>{}</th><th>{}</th></tr>{}</table>',
            gettext("file or page"),
            gettext("what happened"),
            rows,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_urls(self):
        return [
            path(
                "upload/",
                self.admin_site.admin_view(self.upload_view),
                name="knowledge_documentimport_upload",
            ),
            path(
                "crawl/",
                self.admin_site.admin_view(self.crawl_view),
                name="knowledge_documentimport_crawl",
            ),
            *super().get_urls(),
        ]

    def _start_page(
        self, request: HttpRequest, form: forms.Form, title: str, intro: str
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": title,
            "intro": intro,
            "opts": self.model._meta,
        }
        return render(request, "admin/knowledge/documentimport/start.html", context)

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """Upload one file or a zip: queued as an import, whose page this redirects to."""
        if not request.user.has_perm("knowledge.add_document"):
            raise PermissionDenied
        form = DocumentUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            document_import = services.document_import_start(
                kind=DocumentImport.Kind.UPLOAD,
                source=upload.name,
                options=form.options(),
                upload=upload.read(),
                created_by=request.user,
            )
            messages.success(request, gettext("Import of %(name)s queued.") % {"name": upload.name})
            return redirect("admin:knowledge_documentimport_change", document_import.pk)
        intro = gettext(
            "Each file becomes a document; a file that cannot be read imports nothing and is "
            "listed with its error, the others are imported. Files imported before under the "
            "same name are updated, and only re-embedded when their content changed."
        )
        return self._start_page(request, form, gettext("Import documents"), intro)

    def crawl_view(self, request: HttpRequest) -> HttpResponse:
        """Crawl a site from a start URL within limits: queued, then redirected to its page."""
        if not request.user.has_perm("knowledge.add_document"):
            raise PermissionDenied
        form = CrawlForm(
            request.POST or None,
            initial={
                "max_pages": settings.KNOWLEDGE_CRAWL_MAX_PAGES,
                "max_depth": settings.KNOWLEDGE_CRAWL_MAX_DEPTH,
                "max_seconds": settings.KNOWLEDGE_CRAWL_MAX_SECONDS,
            },
        )
        if request.method == "POST" and form.is_valid():
            document_import = services.document_import_start(
                kind=DocumentImport.Kind.CRAWL,
                source=form.cleaned_data["start_url"],
                options=form.options(),
                created_by=request.user,
            )
            messages.success(request, gettext("Crawl queued."))
            return redirect("admin:knowledge_documentimport_change", document_import.pk)
        intro = gettext(
            "Follows the site's sitemap.xml, or the links under the start URL, on the same host "
            "only and as robots.txt allows. Pages crawled before are fetched again only when "
            "they changed; a page that is gone is reported and no longer cited, its document kept "
            "until you delete it (cited again if the page comes back)."
        )
        return self._start_page(request, form, gettext("Crawl a site"), intro)


class FAQChoiceField(forms.ModelChoiceField):
    """An FAQ to pick with its language, and marked when inactive: the paraphrase form listed
    43 questions of both languages and the drafts alike (a lead's walk)."""

    def label_from_instance(self, obj: FAQ) -> str:
        parts = [obj.question, language_name(obj.locale)]
        if not obj.active:
            parts.append(gettext("inactive"))
        return " · ".join(parts)


@admin.register(Paraphrase)
class ParaphraseAdmin(ContentAdmin):
    """Proposed phrasings (a model's, or visitors' questions agents answered with an FAQ) await
    approval here; approved ones are matched (they were embedded when proposed)."""

    list_display = ("text", "faq", "origin", "approved", "created_at")
    list_filter = ("approved", "origin", "faq__locale")
    search_fields = ("text", "faq__question")
    actions = ["approve", "unapprove"]

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "faq":
            kwargs["form_class"] = FAQChoiceField
            kwargs["queryset"] = FAQ.objects.order_by("locale", "-active", "question")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Paraphrase, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change or "text" in form.changed_data:  # an edited draft is embedded again
            services._enqueue_embeddings([obj.pk])

    def _set_approved(self, request: HttpRequest, queryset, approved: bool) -> None:
        rows = list(queryset)
        count = services.paraphrases_set_approved(
            paraphrase_ids=[p.pk for p in rows], approved=approved
        )
        for paraphrase in rows:  # bulk actions leave no admin history by themselves
            self.log_change(request, paraphrase, "Approved." if approved else "Held.")
        message = (
            gettext("%(count)s paraphrase(s) approved.")
            if approved
            else gettext("%(count)s paraphrase(s) held.")
        )
        self.message_user(request, message % {"count": count})

    @admin.action(
        description=_("Approve selected paraphrases (after review)"), permissions=["change"]
    )
    def approve(self, request: HttpRequest, queryset) -> HttpResponse | None:
        """Two steps, as answer variants: every phrasing beside its FAQ first. A zh-shop walk
        approved twelve model-written ones in one click, "汇换＆" and a phrasing saying the
        opposite of its FAQ among them, all matched at once."""
        if request.POST.get("confirm_approval") != "yes":
            rows = list(queryset.select_related("faq").order_by("faq_id", "id"))
            context = review_context(
                self,
                request,
                queryset,
                title=gettext("Approve paraphrases"),
                rows=rows,
                submit_label=gettext("Approve %(count)s paraphrase(s)") % {"count": len(rows)},
            )
            return render(request, "admin/knowledge/paraphrase/approve_review.html", context)
        self._set_approved(request, queryset, True)
        return None

    @admin.action(description=_("Stop matching selected paraphrases"), permissions=["change"])
    def unapprove(self, request: HttpRequest, queryset) -> None:
        self._set_approved(request, queryset, False)


@admin.register(NegativeExample)
class NegativeExampleAdmin(admin.ModelAdmin):
    """Visitors' questions an FAQ answered and they thumbed down. Confirmed ones keep that FAQ
    from answering questions like them (knowledge/negatives.py); dismissed ones do nothing."""

    list_display = ("text", "faq", "status", "score", "locale", "message_id", "created_at")
    list_filter = ("status", "locale")
    search_fields = ("text", "faq__question")
    readonly_fields = ("faq", "text", "locale", "score", "message_id", "created_at")
    actions = ["confirm", "dismiss"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Confirm: the question is not this FAQ"), permissions=["change"])
    def confirm(self, request: HttpRequest, queryset) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        count = negatives_confirm(negative_ids=ids)
        self.message_user(
            request,
            gettext("%(count)s negative example(s) confirmed and embedded.") % {"count": count},
        )

    @admin.action(description=_("Dismiss: the answer was right"), permissions=["change"])
    def dismiss(self, request: HttpRequest, queryset) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        count = negatives_dismiss(negative_ids=ids)
        self.message_user(
            request, gettext("%(count)s negative example(s) dismissed.") % {"count": count}
        )
