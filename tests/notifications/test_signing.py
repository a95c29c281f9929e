import hashlib
import hmac
import re
import time
from pathlib import Path

from notifications.signing import SECRET_PREFIX, secret_new, signature_header

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_verify_signature():
    """The receiver's verification function, exactly as the README shows it."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    (source,) = [block for block in blocks if "def verify_signature(" in block]
    namespace: dict = {}
    exec(compile(source, "README.md", "exec"), namespace)
    return namespace["verify_signature"]


def test_signature_header_is_hmac_sha256_of_timestamp_dot_body():
    header = signature_header(secret="whsec_k", body=b'{"a":1}', timestamp=1700000000)
    expected = hmac.new(b"whsec_k", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_secret_new_is_random_and_long():
    first, second = secret_new(), secret_new()
    assert first != second and first.startswith(SECRET_PREFIX) and len(first) >= 40


def test_readme_snippet_accepts_a_fresh_signature():
    verify = readme_verify_signature()
    body, secret = b'{"id":"x"}', secret_new()
    assert verify(
        signature_header(secret=secret, body=body, timestamp=int(time.time())), body, secret
    )


def test_readme_snippet_refuses_other_bodies_secrets_replays_and_garbage():
    verify = readme_verify_signature()
    body, secret, now = b'{"id":"x"}', secret_new(), int(time.time())
    header = signature_header(secret=secret, body=body, timestamp=now)
    assert not verify(header, body + b"\n", secret)
    assert not verify(header, body, secret_new())
    assert not verify(signature_header(secret=secret, body=body, timestamp=now - 301), body, secret)
    assert not verify(signature_header(secret=secret, body=body, timestamp=now + 301), body, secret)
    for garbage in ("", "t=abc,v1=00", "v1=00", "nonsense", f"t={now}"):
        assert not verify(garbage, body, secret)
