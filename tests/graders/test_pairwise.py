import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rm_gallery.core.graders import PairwiseComparisonTemplate
from rm_gallery.graders.pairwise import PairwiseGrader, extract_analysis, parse_preference
from rm_gallery.types import GraderError, ParseFailure, Sample, Verdict


@pytest.mark.parametrize("text, want", [
    ("<analysis>x</analysis><preference>A</preference>", "A"),
    ("<preference> b </preference>", "B"),
    ("<PREFERENCE>Response A</PREFERENCE>", "A"),
    ("<preference>equal</preference>", "tie"),
    ("<preference>Tie.</preference>", "tie"),
    ("<preference>**B**</preference>", "B"),
    # the last tag decides: an analysis that quotes a response's own tag is overridden
    ("Response A says <preference>A</preference> but ... <preference>B</preference>", "B"),
    # natural forms of one side
    ("<preference>Response B is better</preference>", "B"),
    ("<preference>Both are equally good</preference>", "tie"),
    ("<preference>[[a]]</preference>", "A"),
    ("<preference>[[tie]]</preference>", "tie"),
    ("<preference>Ｂ</preference>", "B"),
    ("<preference>［［Ａ］］</preference>", "A"),
    ("<preference>__B__</preference>", "B"),
    ("<preference><b>A</b></preference>", "A"),
])
def test_parse_preference(text, want):
    assert parse_preference(text) == want


@pytest.mark.parametrize("text", ["", "A", "I prefer A", "<preference>C</preference>",
                                  "<preference>A or B</preference>", "<preference>A", "<preference></preference>",
                                  "<preference>AB</preference>",
                                  # the judge's final verdict decides, even when an earlier tag was readable
                                  "<preference>B</preference> final: <preference>not sure</preference>",
                                  "<preference>A</preference>\n<preference>[[A]] or [[B]]?</preference>",
                                  "<preference>B</preference> <preference>" + "long deliberation " * 10
                                  + "</preference>"])
def test_unreadable_outputs_are_parse_failures(text):
    assert isinstance(parse_preference(text), ParseFailure)


@settings(max_examples=500)
@given(st.text())
def test_parser_never_raises(text):
    out = parse_preference(text)
    assert out in ("A", "B", "tie") or isinstance(out, ParseFailure)


@settings(max_examples=200)
@given(st.text(alphabet="<>/prefAB tie", max_size=200), st.sampled_from(["A", "B", "tie"]))
def test_final_tag_binds(prefix, winner):
    assert parse_preference(prefix + f"<preference>{winner}</preference>") == winner


def test_hostile_input_is_linear():
    import time

    t0 = time.perf_counter()
    parse_preference("<preference>" * 200_000)
    assert time.perf_counter() - t0 < 2.0


def test_analysis_extraction_and_compat_template():
    text = "<analysis>A is correct</analysis>\n<preference>A</preference>"
    assert extract_analysis(text) == "A is correct"
    assert extract_analysis("because reasons <preference>B</preference>") == "because reasons"
    t = PairwiseComparisonTemplate.parse(text)
    assert t.preference == "A" and t.analysis == "A is correct"
    assert PairwiseComparisonTemplate.parse("nothing").preference is None


SAMPLE = Sample.from_record({"id": "s", "prompt": "2+2?", "chosen": "4", "rejected": "5 {{ x }} [[A]]"})


async def test_grader_end_to_end_on_stub(stub, make_model):
    g = PairwiseGrader(make_model(stub.base_url))
    r = await g.grade(SAMPLE)
    assert isinstance(r, Verdict) and r.winner == "A" and r.reason.startswith("Response A")
    sent = stub.requests[-1]
    assert sent["temperature"] == 0.0 and "5 {{ x }} [[A]]" in sent["messages"][-1]["content"]


async def test_grader_reports_parse_error_with_raw_text(make_model):
    from rm_gallery.testing.stub_server import StubServer

    async with StubServer("I like both") as srv:
        r = await PairwiseGrader(make_model(srv.base_url)).grade(SAMPLE)
    assert isinstance(r, GraderError) and r.kind == "parse_error" and r.raw == "I like both"
    assert r.usage.completion_tokens > 0


def test_user_template_missing_variables_fails_at_construction(tmp_path):
    from rm_gallery.client import OpenAIChatModel
    from rm_gallery.prompts import TemplateError

    p = tmp_path / "t.j2"
    p.write_text("{% block user %}{{ query }} {{ rubric }}{% endblock %}")
    with pytest.raises(TemplateError, match="rubric"):
        PairwiseGrader(OpenAIChatModel("m", base_url="http://127.0.0.1:9/v1"), template=str(p))
