"""Generate the demo's small SQLite "CRM": about 5,000 customers, with the flaws real exports have.

Some e-mails are invalid, some customers appear twice (same address, other spelling), dates come in two
formats and gender in several spellings — what the import operator has to cope with. A few customers use
the sandbox's opt-out domain (``optout.example``): they unsubscribe from the first newsletter that reaches
them, as real recipients do.

:func:`mutate_crm` then makes the next day: about 1 % of the customers changed (a new city or name), some
left (``ativo = 0``), a few joined.

    python demo/make_crm.py /tmp/crm.db [--customers 5000] [--seed 7] [--next-day]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
from pathlib import Path

from emailbr_sandbox.vendors.criaenvio import OPTOUT_DOMAIN

FIRST = [
    "Ana",
    "Bruno",
    "Carla",
    "Diego",
    "Eduarda",
    "Felipe",
    "Gabriela",
    "Heitor",
    "Isabela",
    "João",
    "Larissa",
    "Marcos",
    "Natália",
    "Otávio",
    "Patrícia",
    "Rafael",
    "Sofia",
    "Thiago",
    "Vitória",
    "Wagner",
]
LAST = [
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Costa",
    "Ribeiro",
    "Martins",
    "Carvalho",
    "Almeida",
    "Lopes",
    "Soares",
    "Fernandes",
    "Vieira",
    "Barbosa",
]
CITIES = [
    "São Paulo",
    "Rio de Janeiro",
    "Belo Horizonte",
    "Salvador",
    "Recife",
    "Porto Alegre",
    "Curitiba",
    "Fortaleza",
    "Manaus",
    "Belém",
]
DOMAINS = ["exemplo.com.br", "correio.com.br", "provedor.net.br", "empresa.com.br"]
GENDERS = {"f": ["F", "feminino", "f"], "m": ["M", "masculino", "m"]}
#: Share of customers at the sandbox's opt-out domain (they unsubscribe from the first campaign).
OPTOUT_SHARE = 0.004


def _customer(rng: random.Random, number: int) -> tuple[str, str, str, str, str]:
    """``(e-mail, name, gender, birth date, city)`` of customer ``number``, the e-mail still valid."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    gender = "f" if first[-1] == "a" else "m"
    local = (
        f"{first}.{last}.{number}".lower()
        .replace("ã", "a")
        .replace("á", "a")
        .replace("í", "i")
        .replace("ô", "o")
    )
    domain = OPTOUT_DOMAIN if rng.random() < OPTOUT_SHARE else rng.choice(DOMAINS)
    birth_year, birth_month, birth_day = rng.randint(1950, 2005), rng.randint(1, 12), rng.randint(1, 28)
    birth = (
        f"{birth_day:02d}/{birth_month:02d}/{birth_year}"
        if rng.random() < 0.5
        else f"{birth_year}-{birth_month:02d}-{birth_day:02d}"
    )
    return f"{local}@{domain}", f"{first} {last}", rng.choice(GENDERS[gender]), birth, rng.choice(CITIES)


def make_crm(path: Path, customers: int = 5000, seed: int = 7) -> dict[str, int]:
    """Write the CRM database at ``path``; return how many rows of each kind it holds."""
    rng = random.Random(seed)
    path.unlink(missing_ok=True)
    rows = []
    invalid = duplicates = 0
    for i in range(customers):
        email, name, gender, birth, city = _customer(rng, i)
        local = email.partition("@")[0]
        roll = rng.random()
        if roll < 0.03:  # typos that make the address invalid
            email = rng.choice(
                [email.replace("@", ""), email.replace(".com", ".com."), f"{local}@", f" {local}@@x"]
            )
            invalid += 1
        rows.append((email, name, gender, birth, city, 1))
        if rng.random() < 0.02 and roll >= 0.03:  # the same customer again, address in other case
            rows.append((email.upper(), f"{name} (atualizado)", gender, birth, rng.choice(CITIES), 1))
            duplicates += 1
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE clientes (id INTEGER PRIMARY KEY, email TEXT, nome TEXT, sexo TEXT,"
            " nascimento TEXT, cidade TEXT, ativo INTEGER)"
        )
        conn.executemany(
            "INSERT INTO clientes (email, nome, sexo, nascimento, cidade, ativo) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    return {"rows": len(rows), "invalid": invalid, "duplicates": duplicates}


def mutate_crm(
    path: Path, *, changed: float = 0.01, left: float = 0.004, joined: float = 0.004, seed: int = 8
) -> dict[str, int]:
    """Turn the CRM at ``path`` into the next day's: a share ``changed`` of the active customers get a new
    city or name, ``left`` stop being customers (``ativo = 0``), ``joined`` new customers are added.
    Return how many rows of each kind."""
    rng = random.Random(seed)
    with sqlite3.connect(path) as conn:
        active = [row_id for (row_id,) in conn.execute("SELECT id FROM clientes WHERE ativo = 1 ORDER BY id")]
        picked = rng.sample(active, round(len(active) * (changed + left)))
        moved, gone = picked[: round(len(active) * changed)], picked[round(len(active) * changed) :]
        for row_id in moved:
            if rng.random() < 0.7:
                conn.execute("UPDATE clientes SET cidade = ? WHERE id = ?", (rng.choice(CITIES), row_id))
            else:
                conn.execute("UPDATE clientes SET nome = nome || ' Jr.' WHERE id = ?", (row_id,))
        conn.executemany("UPDATE clientes SET ativo = 0 WHERE id = ?", [(row_id,) for row_id in gone])
        (top,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM clientes").fetchone()
        newcomers = [(*_customer(rng, top + 1 + i), 1) for i in range(round(len(active) * joined))]
        conn.executemany(
            "INSERT INTO clientes (email, nome, sexo, nascimento, cidade, ativo) VALUES (?, ?, ?, ?, ?, ?)",
            newcomers,
        )
    return {"changed": len(moved), "left": len(gone), "joined": len(newcomers)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--next-day", action="store_true", help="change the existing CRM as a day would")
    args = parser.parse_args()
    print(mutate_crm(args.path) if args.next_day else make_crm(args.path, args.customers, args.seed))


if __name__ == "__main__":
    main()
