"""Keeping credentials out of logs: redact secret-named values and passwords inside URIs.

Secrets reach seqpipe from environment variables (MLFLOW_TRACKING_PASSWORD,
AWS_SECRET_ACCESS_KEY, ...) or Prefect Secret blocks, never from the YAML; these helpers
are the safety net for a config or a URI that carries one anyway. `redact_params` is
applied to every config logged as MLflow params, `redact_uri` to URIs the CLI prints.
"""
from __future__ import annotations

import re
from typing import Any

MASK = "***"

# words (of a key split at _, -, ., spaces and camelCase) that mark a secret; "token" only as
# the last word (auth_token, HF_TOKEN), since token_column, max_tokens... are NLP settings
SECRET_WORDS = {"password", "passwd", "pwd", "passphrase", "secret", "credential", "credentials",
                "auth", "authorization", "apikey", "accesskey", "privatekey"}
SECRET_PAIRS = {("api", "key"), ("access", "key"), ("private", "key")}
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
# scheme://user:password@host -> scheme://user:***@host (the password runs to the last @ before a /)
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s'\"]*):[^\s'\"/?#]*@")
# ?password=...&token=... in a query string
_QUERY = re.compile(r"(?P<head>[?&;](?P<key>[A-Za-z0-9_.\-]+)=)(?P<value>[^&#;\s'\"]*)")


def is_secret_key(key: str) -> bool:
    """True for names like password, db_passwd, apiKey, AWS_SECRET_ACCESS_KEY, auth_token,
    credentials; False for tokenize, max_tokens, token_column, author."""
    words = [w.lower() for w in _WORD.findall(str(key))]
    return (any(w in SECRET_WORDS for w in words) or words[-1:] == ["token"]
            or any(pair in SECRET_PAIRS for pair in zip(words, words[1:])))


def redact_uri(text: str) -> str:
    """`text` with the password of every URI in it (and secret-named query values) replaced
    by ***; the user name stays: postgresql://bob:pw@db/x -> postgresql://bob:***@db/x."""
    if not isinstance(text, str) or ("://" not in text and "=" not in text):
        return text
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)
    return _QUERY.sub(lambda m: m["head"] + MASK if is_secret_key(m["key"]) and m["value"] else m[0], text)


def without_userinfo(uri: str) -> str:
    """The URI with its user:password@ part removed (for links a browser opens)."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.\-]*://)[^/?#@\s]*@", r"\1", uri)


def redact_value(key: str, value: Any) -> Any:
    """*** for a set value under a secret-like key; otherwise the value with URIs redacted
    (dicts and lists recursively)."""
    if is_secret_key(key) and value not in (None, ""):
        return MASK
    if isinstance(value, dict):
        return redact_params(value)
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value("", v) for v in value)
    return redact_uri(value) if isinstance(value, str) else value


def redact_params(params: dict) -> dict:
    """A copy of a (nested) parameter dict that is safe to log."""
    return {key: redact_value(key, value) for key, value in params.items()}
