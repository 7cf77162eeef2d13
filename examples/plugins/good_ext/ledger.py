"""good_ext's invoices: models on the host's scoped storage, actions with requirements.

Nothing here names an organization: the storage filters every read and stamps every
insert with the org of the request the action runs in.
"""
import hostapp.sdk as sdk

NAME = "good_ext"
Base = sdk.storage_base(NAME)


class Invoice(Base):
    __tablename__ = "invoices"
    id: sdk.Mapped[int] = sdk.mapped_column(primary_key=True)
    org_id: sdk.Mapped[str] = sdk.mapped_column(sdk.String(128))
    customer: sdk.Mapped[str] = sdk.mapped_column(sdk.String(64))
    amount: sdk.Mapped[int]


@sdk.action("invoices.create", requires=["invoices.write"])
def create(customer, amount):
    with sdk.session(NAME) as s:
        s.add(Invoice(customer=customer, amount=amount))
        s.commit()
    return f"{customer} {amount}"


@sdk.page("invoices.list", requires=["invoices.read"])
def list_invoices():
    with sdk.session(NAME) as s:
        return [(i.customer, i.amount) for i in s.scalars(sdk.select(Invoice).order_by(Invoice.id))]


@sdk.action("invoices.export", requires=["invoices.read"], approval=True)
def export():
    """Sends the org's invoices outside the application: a person confirms first."""
    return f"exported {len(list_invoices())} invoices"
