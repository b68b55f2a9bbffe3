"""Independent oracle for Carnet's NIR check.

Generates NIRs with Faker (fr_FR) and corrupted variants, and prints one JSON line per case with
python-stdnum's verdict (stdnum.fr.nir.is_valid). Neither library is Carnet's; the Rust test
nir_oracle.rs compares Carnet's verdict with stdnum's on every line.
"""
import json
import random
import sys

from faker import Faker
from stdnum.fr import nir

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 1200
fake = Faker("fr_FR")
Faker.seed(20261122)
rng = random.Random(20261122)


def emit(value, kind):
    print(json.dumps({"nir": value, "kind": kind, "valid": nir.is_valid(value)}, ensure_ascii=False))


def key_of(body):
    number = body.replace("2A", "19", 1).replace("2B", "18", 1) if body[5:7] in ("2A", "2B") else body
    return "%02d" % (97 - int(number) % 97)


faker_nirs = [fake.ssn() for _ in range(COUNT)]
for n in faker_nirs:
    emit(n, "faker")

for n in faker_nirs[:400]:
    digits = [i for i in range(15) if n[i].isdigit()]
    # One digit changed.
    i = rng.choice(digits)
    emit(n[:i] + str((int(n[i]) + rng.randint(1, 9)) % 10) + n[i + 1:], "digit-changed")
    # Two adjacent digits swapped (when they differ).
    i = rng.choice([d for d in digits if d + 1 in digits])
    emit(n[:i] + n[i + 1] + n[i] + n[i + 2:], "transposed")
    # The key altered.
    emit(n[:13] + "%02d" % ((int(n[13:]) + rng.randint(1, 96)) % 100), "key-altered")
    # Wrong lengths.
    emit(n[:-1], "too-short")
    emit(n + str(rng.randint(0, 9)), "too-long")
    # A letter inserted in place of a digit.
    i = rng.choice(digits)
    emit(n[:i] + rng.choice("ABCXZ") + n[i + 1:], "letter")
    # Written with separators, as people do.
    emit(nir.format(n), "spaced")
    emit(nir.format(n, "."), "dotted")

# Corsica: 2A/2B departments, right and wrong keys, lower case.
for _ in range(100):
    body = "%d%02d%02d%s%03d%03d" % (
        rng.choice([1, 2]), rng.randint(0, 99), rng.randint(1, 12), rng.choice(["2A", "2B"]),
        rng.randint(1, 999), rng.randint(1, 999))
    key = key_of(body)
    emit(body + key, "corsica")
    emit((body + key).lower(), "corsica-lower")
    emit(body + "%02d" % ((int(key) + 1) % 100), "corsica-wrong-key")
    emit(body[:5] + "2C" + body[7:] + key, "corsica-bad-letter")
