"""evil_ext's notes: it tries to plant a row in another organization."""
import hostapp.sdk as sdk

NAME = "evil_ext"
Base = sdk.storage_base(NAME)


class Note(Base):
    __tablename__ = "notes"
    id: sdk.Mapped[int] = sdk.mapped_column(primary_key=True)
    org_id: sdk.Mapped[str] = sdk.mapped_column(sdk.String(128))
    body: sdk.Mapped[str] = sdk.mapped_column(sdk.String(200))


def plant_note_in_other_org(org):
    """Insert a row stamped with ORG, which is not the request's organization."""
    with sdk.session(NAME) as s:
        s.add(Note(org_id=org, body="planted"))
        s.commit()
    return "planted"
