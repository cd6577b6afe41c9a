import json

import pytest

from rm_gallery.records import RecordError, sample_from_record
from rm_gallery.types import Sample


def test_rm_gallery_pairwise_record_with_metadata_as_json_string():
    rec = {"input": [{"role": "user", "content": "What are the benefits of exercise?"}],
           "output": [{"content": "Many."}, {"content": "Exercise is good."}],
           "metadata": json.dumps({"preferred": "B", "preference_strength": 2, "source": "hs2"})}
    s = sample_from_record(rec, default_id="7")
    assert s.id == "7" and s.query.startswith("What are")
    assert [r.content for r in s.responses] == ["Many.", "Exercise is good."]
    assert s.label.preferred == "B" and s.label.preference_strength == 2
    assert s.metadata["source"] == "hs2"


def test_rm_gallery_answer_wrapped_outputs():
    rec = {"input": [{"role": "user", "content": "q"}],
           "output": [{"answer": {"role": "assistant", "content": "x", "label": {"response_type": "A"}}},
                      {"answer": {"role": "assistant", "content": "y"}}],
           "metadata": {"preferred": "tie", "preference_strength": 0}}
    s = sample_from_record(rec, default_id="0")
    assert [r.content for r in s.responses] == ["x", "y"] and s.label.preferred == "tie"


def test_preference_pair_record_puts_chosen_first():
    s = sample_from_record({"id": 3, "prompt": "p", "chosen": "good", "rejected": "bad", "subset": "hep-go"})
    assert s.id == "3" and s.responses[0].content == "good" and s.label.preferred == "A"
    assert s.metadata["subset"] == "hep-go"


def test_native_record_and_multi_turn_query():
    s = Sample.from_record({"id": "a", "messages": [{"role": "user", "content": "hi"},
                                                   {"role": "assistant", "content": "hello"},
                                                   {"role": "user", "content": "more"}],
                            "responses": ["r1", {"content": "r2"}], "label": {"preferred": "Response B"}})
    assert s.query == "User: hi\n\nAssistant: hello\n\nUser: more"
    assert s.label.preferred == "B"


@pytest.mark.parametrize("rec, field", [
    ({"input": [{"role": "user", "content": "q"}], "output": [{"content": "a"}, {"text": "b"}]}, "output[1].content"),
    ({"input": "q", "output": [{"content": "a"}], "metadata": "{not json"}, "metadata"),
    ({"input": "q", "output": [{"content": "a"}], "metadata": {"preferred": "C"}}, "metadata.preferred"),
    ({"input": "q", "output": [{"content": "a"}], "metadata": {"preference_strength": 5}},
     "metadata.preference_strength"),
    ({"prompt": "q", "chosen": "", "rejected": "b"}, "chosen"),
    ({"prompt": 3, "chosen": "a", "rejected": "b"}, "prompt"),
    ({"responses": ["a"]}, "messages"),
    ({"messages": "q"}, "responses"),
    ({"input": [{"role": "robot", "content": "q"}], "output": ["a"]}, "input[0].role"),
])
def test_malformed_records_name_the_field(rec, field):
    with pytest.raises(RecordError) as e:
        sample_from_record(rec, default_id="0")
    assert e.value.field == field
    assert f"field '{field}'" in str(e.value) and "\n" not in str(e.value)



RMB_PAIR = {"pair_uid": "7989", "category_path": "Pairwise_set/Helpfulness/Chat/Discussion",
            "conversation_input": [{"role": "user", "content": "Your opinion on GPT-3.5?", "language": "English"}],
            "chosen": {"llm_name": "m1", "answer": "It is capable."}, "reject": {"llm_name": "m2", "answer": "Hm."}}


@pytest.mark.parametrize("rec, field", [
    (RMB_PAIR, "prompt"),                                         # an RMB pairwise row: no prompt, no rejected
    ({"prompt": "q", "chosen": "x"}, "rejected"),
    ({"messages": [{"role": "user", "content": "q"}], "rejected": "y"}, "chosen"),
    ({"prompt": None, "chosen": "x", "rejected": "y"}, "prompt"),  # a parquet null is absent
    ({"input": [{"role": "user", "content": "q"}]}, "output"),
    ({"output": [{"content": "a"}]}, "input"),
    ({"query": "q"}, "responses"),
    ({"responses": ["a"]}, "messages"),
])
def test_an_absent_field_says_missing_and_lists_the_accepted_shapes(rec, field):
    with pytest.raises(RecordError) as e:
        sample_from_record(rec, default_id="0")
    msg = str(e.value)
    assert e.value.field == field and msg.startswith(f"field '{field}': missing (accepted record shapes: native ")
    assert "RM-Gallery {input, output}" in msg and "preference pair {prompt|messages|query, chosen, rejected}" in msg
    assert "\n" not in msg and ("rm-gallery bench rmb" in msg) == ("conversation_input" in rec)


def test_a_present_prompt_under_another_name_is_used():
    s = sample_from_record({"messages": [{"role": "user", "content": "q"}], "chosen": "x", "rejected": "y"})
    assert s.query == "q" and s.label.preferred == "A"
