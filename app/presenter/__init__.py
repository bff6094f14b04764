"""The presenter: what a tab of the Label page must be sent, computed once per panel.

It sits above the services and the figures and below the callbacks: :mod:`app.presenter.panels`
declares each panel of the page (its Dash outputs, its change key, its data and its render), and
:class:`~app.presenter.label_page.LabelPage` answers a tab's sync and the live endpoint's key from
those declarations (docs/architecture.md section 4, "The sync model").
"""
