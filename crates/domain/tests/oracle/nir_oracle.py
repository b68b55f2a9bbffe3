"""Independent oracle for Carnet's NIR check.

Generates NIRs with Faker (fr_FR) and corrupted variants, and prints one JSON line per case:
{"nir": ..., "kind": ..., "valid": python-stdnum's stdnum.fr.nir.is_valid verdict}. Neither
library is Carnet's; the Rust test nir_oracle.rs compares Carnet's verdict with stdnum's on every
line. Seeded: the same library versions give the same cases.

Usage: nir_oracle.py [FAKER_COUNT]
"""
import json
import random
import sys

try:
    import faker
    import stdnum
    from faker import Faker
    from stdnum.fr import nir
except ImportError as e:
    sys.exit(f"nir_oracle.py: Python module {e.name!r} is missing: run `pip install Faker python-stdnum` "
             f"(or scripts/test, which installs them in .venv-test) and point CARNET_PYTHON at that Python")

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 1200
SEED = 20261122
Faker.seed(SEED)
fake = Faker("fr_FR")
rng = random.Random(SEED)
print(f"oracle: Faker {faker.VERSION}, python-stdnum {stdnum.__version__}, seed {SEED}", file=sys.stderr)


def verdict(value):
    try:
        return nir.is_valid(value)
    except Exception:  # noqa: BLE001 - stdnum itself raises on a few inputs (kind "stdnum-raises")
        return None


def emit(value, kind):
    print(json.dumps({"nir": value, "kind": kind, "valid": verdict(value)}, ensure_ascii=False))


def key_of(body):
    """The key, 2A/2B counting as 19/18 (stdnum's calc_check_digits, reused as the oracle)."""
    return nir.calc_check_digits(body)


def swap(n, i):
    return n[:i] + n[i + 1] + n[i] + n[i + 2:]


# 1. Faker's NIRs, all valid.
faker_nirs = [fake.ssn() for _ in range(COUNT)]
for n in faker_nirs:
    emit(n, "faker")

# 2. Corrupted Faker NIRs, and the forms people write.
for n in faker_nirs[:400]:
    digits = [i for i in range(15) if n[i].isdigit()]
    i = rng.choice(digits)
    emit(n[:i] + str((int(n[i]) + rng.randint(1, 9)) % 10) + n[i + 1:], "digit-changed")
    i = rng.choice([d for d in digits if d + 1 in digits and n[d] != n[d + 1]])
    emit(swap(n, i), "transposed")
    emit(n[:13] + "%02d" % ((int(n[13:]) + rng.randint(1, 96)) % 100), "key-altered")
    emit(n[:-1], "too-short")
    emit(n + str(rng.randint(0, 9)), "too-long")
    i = rng.choice(digits)
    emit(n[:i] + rng.choice("ABCXZ") + n[i + 1:], "letter")
    i = rng.randint(0, 15)
    emit(n[:i] + rng.choice("ABXé") + n[i:], "letter-inserted")
    emit(nir.format(n), "spaced")
    emit(nir.format(n, "."), "dotted")
    emit(n.lower(), "lower")

# 3. Every transposition of a few NIRs (a transposition never keeps the key, see the Rust
#    property tests for why).
for n in faker_nirs[400:420]:
    for i in range(14):
        if n[i] != n[i + 1]:
            emit(swap(n, i), "transposed")

# 4. Corsica (Faker has only two Corsican towns): 2A/2B departments built by hand, right and
#    wrong keys, changed and swapped around the letter, lower case, letters elsewhere.
for _ in range(150):
    body = "%d%02d%02d%s%03d%03d" % (
        rng.choice([1, 2]), rng.randint(0, 99), rng.randint(1, 12), rng.choice(["2A", "2B"]),
        rng.randint(1, 999), rng.randint(1, 999))
    key = key_of(body)
    n = body + key
    emit(n, "corsica")
    emit(n.lower(), "corsica-lower")
    emit(nir.format(n), "corsica-spaced")
    emit(body + "%02d" % ((int(key) + rng.randint(1, 96)) % 100), "corsica-wrong-key")
    # The key computed with the department's digits taken as 20 instead of 19/18.
    emit(body + "%02d" % (97 - int(body.replace("2A", "20").replace("2B", "20")) % 97), "corsica-wrong-key")
    emit(body[:6] + ("B" if body[6] == "A" else "A") + body[7:] + key, "corsica-wrong-key")
    emit(body[:5] + rng.choice(["2C", "1A", "3B", "A2", "2Z"]) + body[7:] + key, "corsica-bad-letter")
    for i in (4, 5, 6):
        if n[i] != n[i + 1]:
            emit(swap(n, i), "corsica-transposed")
    emit(body[:3] + "2A" + body[5:] + key, "corsica-bad-letter")  # 2A outside the department
    # The numeric twin (19/18 in place of 2A/2B) has the same key: both are NIRs.
    emit(body.replace("2A", "19").replace("2B", "18") + key, "corsica-twin")

# 5. Bodies Faker never makes: any sex digit, month or place (neither side checks them: the INS
#    also covers NIA and provisional numbers), and keys with a leading zero.
for _ in range(300):
    body = "%013d" % rng.randrange(10 ** 13)
    emit(body + key_of(body), "random-body")
leading_zero = [b for b in ("%013d" % rng.randrange(10 ** 13) for _ in range(2000)) if int(key_of(b)) < 10][:30]
for body in leading_zero:
    key = key_of(body)
    emit(body + key, "random-body")
    emit(body + "+" + key[1], "signed-key")
    emit(body + key[1], "too-short")
for bad in ["", " ", "2A", "." * 15, "0" * 15, "9" * 15, "1 84 12 76 451 089 4x"]:
    emit(bad, "junk")

# 6. Deliberate differences (see nir_oracle.rs): stdnum maps Unicode look-alikes to ASCII and
#    strips surrounding white space of any kind; Carnet takes ASCII digits, spaces and dots only.
for n in faker_nirs[:60]:
    emit("".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in n), "unicode-digits")
    emit(nir.format(n, rng.choice(["\u00a0", "\u202f", "\u2009", "\u3000", "\u00b7", "\u2022"])), "unicode-separators")
    emit(rng.choice(["\t", "\n", "\r\n", " \t"]) + n + rng.choice(["\n", "\t", "\r"]), "outer-whitespace")
    # stdnum 2.2 raises ValueError here: its digit regex `^[0-9]+$` lets a final newline through.
    emit(n[:4] + "\n" + n[5:], "stdnum-raises")
