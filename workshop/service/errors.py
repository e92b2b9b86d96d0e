"""The one error type the API raises: it becomes a JSON error response."""


class ApiError(Exception):
    def __init__(self, status, code, message, headers=None, **fields):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.fields = fields

    def body(self):
        return {"error": self.code, "message": self.message, **self.fields}


def bad_request(parameter, message):
    return ApiError(400, "bad_request", f"{parameter}: {message}", parameter=parameter)


def not_found(message, **fields):
    return ApiError(404, "not_found", message, **fields)


def conflict(message):
    return ApiError(409, "conflict", message)
