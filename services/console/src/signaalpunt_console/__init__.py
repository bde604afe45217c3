"""The staff console: coordinators (regisseurs), the desk (loket) and the teams work their cases
in a browser. A backend for the frontend: it holds no data of its own and calls the services'
APIs with the signed-in person's own access token."""
