from rest_framework.decorators import api_view
from rest_framework.response import Response


@api_view(["GET"])
def whoami(request):
    """A protected view: who the token says the caller is, as Django's own user."""
    return Response({"pk": request.user.pk, "username": request.user.username})
