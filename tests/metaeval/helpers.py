"""Hand-built pairs for metric tests."""

from rm_gallery.metaeval.pairs import Pair


def pair(verdicts, label="A", *, id="p", **kw) -> Pair:
    if isinstance(verdicts, str) or verdicts is None:
        verdicts = {"ab": verdicts}
    errors = {o: "parse_error" for o, v in verdicts.items() if v is None}
    return Pair(id=id, stratum=kw.pop("stratum", "all"), label=label, verdicts=dict(verdicts), errors=errors, **kw)
