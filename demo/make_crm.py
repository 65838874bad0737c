"""Generate the demo's small SQLite "CRM": about 5,000 customers, with the flaws real exports have.

Some e-mails are invalid, some customers appear twice (same address, other spelling), dates come in two
formats and gender in several spellings — what the import operator has to cope with.

    python demo/make_crm.py /tmp/crm.db [--customers 5000] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
from pathlib import Path

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


def make_crm(path: Path, customers: int = 5000, seed: int = 7) -> dict[str, int]:
    """Write the CRM database at ``path``; return how many rows of each kind it holds."""
    rng = random.Random(seed)
    path.unlink(missing_ok=True)
    rows = []
    invalid = duplicates = 0
    for i in range(customers):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        gender = "f" if first[-1] == "a" else "m"
        local = (
            f"{first}.{last}.{i}".lower()
            .replace("ã", "a")
            .replace("á", "a")
            .replace("í", "i")
            .replace("ô", "o")
        )
        email = f"{local}@{rng.choice(DOMAINS)}"
        roll = rng.random()
        if roll < 0.03:  # typos that make the address invalid
            email = rng.choice(
                [email.replace("@", ""), email.replace(".com", ".com."), f"{local}@", f" {local}@@x"]
            )
            invalid += 1
        birth_year, birth_month, birth_day = rng.randint(1950, 2005), rng.randint(1, 12), rng.randint(1, 28)
        birth = (
            f"{birth_day:02d}/{birth_month:02d}/{birth_year}"
            if rng.random() < 0.5
            else f"{birth_year}-{birth_month:02d}-{birth_day:02d}"
        )
        rows.append((email, f"{first} {last}", rng.choice(GENDERS[gender]), birth, rng.choice(CITIES), 1))
        if rng.random() < 0.02 and roll >= 0.03:  # the same customer again, address in other case
            rows.append(
                (
                    email.upper(),
                    f"{first} {last} (atualizado)",
                    gender,
                    birth,
                    rng.choice(CITIES),
                    1,
                )
            )
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(make_crm(args.path, args.customers, args.seed))


if __name__ == "__main__":
    main()
