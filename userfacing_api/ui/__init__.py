"""The web page at `/ui`: plain HTML, CSS and JavaScript modules served as they are
(no build step), talking to this API with a bearer token from `POST /token`."""
