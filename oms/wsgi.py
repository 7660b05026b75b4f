from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings")
application = get_wsgi_application()

from oms.serving import freeze_startup_heap  # noqa: E402  (needs settings)

freeze_startup_heap()
