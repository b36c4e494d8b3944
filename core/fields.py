from django.db import models

from core import crypto


class EncryptedTextField(models.TextField):
    """Text stored encrypted (Fernet, see core.crypto); Python code sees plaintext.

    The database, its history tables and any dump hold only ciphertext. Lookups on the
    column cannot work (every encryption differs): search through a blind-index column.
    Empty values are stored as "" (not encrypted) so "is it filled?" stays cheap.
    """

    description = "Text encrypted at rest"

    def from_db_value(self, value, expression, connection):
        if not value:
            return value
        return crypto.decrypt(value)

    def to_python(self, value):
        return value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return value
        return crypto.encrypt(value)


class NameGramsField(models.Field):
    """The 1- and 2-character grams of the searchable names of a row.

    PostgreSQL stores a text[] with a GIN index (`@>` answers a 2-character Chinese search,
    which a trigram index cannot); other databases (the SQLite default) store "|a|ab|b|"
    and match with LIKE. Look up with `.filter(field__has_gram="张伟")`.
    """

    description = "Search grams"

    def db_type(self, connection):
        return "text[]" if connection.vendor == "postgresql" else "text"

    def from_db_value(self, value, expression, connection):
        if value is None:
            return []
        if isinstance(value, str):
            return [g for g in value.split("|") if g]
        return list(value)

    def to_python(self, value):
        if isinstance(value, str):
            return [g for g in value.split("|") if g]
        return list(value or [])

    def get_db_prep_value(self, value, connection, prepared=False):
        grams = sorted(set(value or []))
        if connection.vendor == "postgresql":
            return grams
        return "|" + "|".join(grams) + "|" if grams else ""


@NameGramsField.register_lookup
class HasGram(models.Lookup):
    lookup_name = "has_gram"

    def get_db_prep_lookup(self, value, connection):
        return ("%s", [value])

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} @> ARRAY[%s]::text[]", [*lhs_params, self.rhs]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        escaped = self.rhs.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"{lhs} LIKE %s ESCAPE '\\'", [*lhs_params, f"%|{escaped}|%"]
