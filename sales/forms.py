from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core.forms import FiniteDecimalField
from customers.forms import staff_choices
from interactions.forms import DateTimeInput
from sales.models import Order, OrderLine, Product
from sales.services import LineData


class OrderForm(forms.ModelForm):
    class Meta:
        model = Order
        fields = ["customer", "ordered_at", "status", "channel", "owner", "notes"]
        widgets = {
            "customer": forms.HiddenInput(),
            "ordered_at": DateTimeInput(),
            "notes": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, customer_choices, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customer_choices
        self.fields["owner"].queryset = staff_choices()
        self.fields["owner"].required = False
        if not user.has_perm("customers.change_customer_owner"):
            del self.fields["owner"]
        if self.instance.pk:
            # Status changes go through their own buttons (pay, ship, cancel...).
            del self.fields["status"]


class OrderLineForm(forms.ModelForm):
    class Meta:
        model = OrderLine
        fields = ["product", "quantity", "unit_price", "discount"]
        field_classes = {
            "quantity": FiniteDecimalField,
            "unit_price": FiniteDecimalField,
            "discount": FiniteDecimalField,
        }
        widgets = {
            "quantity": forms.NumberInput(attrs={"step": "any", "min": "0"}),
            "unit_price": forms.NumberInput(attrs={"step": "0.01", "min": "0"}),
            "discount": forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "100"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = Product.objects.filter(active=True).order_by("name")
        self.fields["unit_price"].required = False
        self.fields["unit_price"].help_text = _("Empty: the product's price.")
        self.fields["discount"].required = False


class BaseLineFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        if not self.line_data():
            raise ValidationError(_("An order needs at least one line."), code="no_lines")

    def line_data(self) -> list[LineData]:
        lines = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not data.get("product"):
                continue
            lines.append(
                LineData(
                    product=data["product"],
                    quantity=data["quantity"],
                    unit_price=data.get("unit_price"),
                    discount=data.get("discount") or Decimal("0"),
                )
            )
        return lines


OrderLineFormSet = forms.inlineformset_factory(
    Order, OrderLine, form=OrderLineForm, formset=BaseLineFormSet, extra=3, can_delete=True, max_num=100
)


class OrderStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Order.Status.choices)
