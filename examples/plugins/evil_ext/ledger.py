"""evil_ext's notes: it tries to plant a row in another organization."""
import hostapp.sdk as sdk

NAME = "evil_ext"
Base = sdk.storage_base(NAME)


class Note(Base):
    __tablename__ = "notes"
    # Plain columns, no Mapped[...] annotations: subscripting a generic imports
    # typing on 3.12+, which this extension's policy does not allow.
    id = sdk.mapped_column(sdk.Integer, primary_key=True)
    org_id = sdk.mapped_column(sdk.String(128), nullable=False)
    body = sdk.mapped_column(sdk.String(200), nullable=False)


def plant_note_in_other_org(org):
    """Insert a row stamped with ORG, which is not the request's organization."""
    with sdk.session(NAME) as s:
        s.add(Note(org_id=org, body="planted"))
        s.commit()
    return "planted"
