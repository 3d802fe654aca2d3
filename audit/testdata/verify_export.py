#!/usr/bin/env python3
"""Independent verifier of an Ethos audit export (ethos-audit-export/1).

Written from docs/audit.md and RFC 6962 only, without the Go code, so an
auditor can check an export with tools of their own. Usage:

    verify_export.py VERIFIER_KEY < export.jsonl

VERIFIER_KEY is the log's public key in note format (name+hash+base64).
Checks the checkpoint's Ed25519 signature (needs the python3-cryptography
package), that indexes run 0, 1, 2, ..., that each event is in canonical
form (re-encoded as RFC 8785 JSON) and hashes to its leaf_hash, and that
the Merkle tree root equals the signed root. Prints "ok N ROOT" or
"bad INDEX REASON" (INDEX -1 when no single event can be named) and exits
0 or 1.
"""
import base64
import hashlib
import json
import sys


def fail(index, reason):
    print("bad", index, reason)
    sys.exit(1)


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(hashes):
    """MTH of RFC 6962 section 2.1 over a list of leaf hashes."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(merkle_root(hashes[:k]), merkle_root(hashes[k:]))


def open_checkpoint(signed, vkey):
    name, key_id, key = vkey.split("+", 2)
    key = base64.b64decode(key)
    if key[0] != 1 or len(key) != 33:
        fail(-1, "verifier key is not Ed25519")
    want_id = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
    if want_id.hex() != key_id:
        fail(-1, "verifier key hash does not match")
    text, sep, sigs = signed.partition("\n\n")
    if not sep:
        fail(-1, "checkpoint has no signature")
    text += "\n"
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    pub = Ed25519PublicKey.from_public_bytes(key[1:])
    for line in sigs.splitlines():
        if not line.startswith("\u2014 " + name + " "):
            continue
        sig = base64.b64decode(line.rsplit(" ", 1)[1])
        if sig[:4] != want_id:
            continue
        try:
            pub.verify(sig[4:], text.encode())
        except Exception:
            fail(-1, "checkpoint signature does not verify")
        origin, size, root = text.split("\n")[:3]
        if origin != name:
            fail(-1, "checkpoint origin is not the key name")
        return int(size), base64.b64decode(root)
    fail(-1, "checkpoint is not signed by this key")


def main():
    vkey = sys.argv[1]
    lines = sys.stdin.buffer.read().decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    head = json.loads(lines[0])
    if head.get("format") != "ethos-audit-export/1":
        fail(-1, "not an ethos-audit-export/1 file")
    size, root = open_checkpoint(head["checkpoint"], vkey)
    hashes = []
    for n, line in enumerate(lines[1:]):
        try:
            rec = json.loads(line)
        except ValueError:
            fail(n, "line is not JSON")
        if rec.get("index") != n:
            fail(n, "event missing or out of order")
        if n >= size:
            fail(n, "event beyond the signed checkpoint")
        event = rec.get("event")
        if not isinstance(event, dict):
            fail(n, "event is not an object")
        data = json.dumps(event, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode("utf-8")
        h = leaf_hash(data)
        if rec.get("leaf_hash") is None or base64.b64decode(rec["leaf_hash"]) != h:
            fail(n, "event does not hash to its leaf_hash")
        hashes.append(h)
    if len(hashes) < size:
        fail(len(hashes), "event missing: the checkpoint signs more events")
    got = merkle_root(hashes)
    if got != root:
        fail(-1, "tree root differs from the signed root")
    print("ok", size, base64.b64encode(got).decode())


if __name__ == "__main__":
    main()
