import factory

from customers.models import Contact, Customer, Tag
from customers.services import contact_save, customer_create


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag{n}")


class CustomerFactory(factory.Factory):
    """Builds customers through the service, so blind indexes and search columns are set
    exactly as in production."""

    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    kind = Customer.Kind.INDIVIDUAL
    owner = None
    mobile = ""
    email = ""

    @classmethod
    def _create(cls, model_class, *args, tags=None, **kwargs):
        return customer_create(user=kwargs.get("owner"), data=kwargs, tags=tags)


def make_contact(customer, **kwargs) -> Contact:
    kwargs.setdefault("name", "联系人")
    return contact_save(contact=Contact(customer=customer, **kwargs), user=None)
