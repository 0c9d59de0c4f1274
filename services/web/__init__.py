"""The web console (Web 控制台): the pages a window clerk and an auditor work in.

A small Starlette application with server-rendered Jinja2 pages and a little progressive
enhancement (fields checked as they are typed). It talks to the services only through their gRPC
front doors, as the signed-in person — never to a store — so it can be given no more rights than
the person using it.

- `app.py`       the application: routes, sign-in guard, error pages
- `session.py`   who is signed in (a signed, expiring session cookie)
- `gateway.py`   calls to a region's services, and their refusals as a clerk reads them
- `forms.py`     the forms (WTForms), validated on the server with the same rules as the services
- `labels.py`    the Chinese words a clerk reads for states, queues, events and roles
- `pages_*.py`   the clerk's and the auditor's pages
`tongban web` runs it alone against a running stack; `tongban up` starts it with the stack."""
