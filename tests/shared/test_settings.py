import pytest
from pydantic import BaseModel, ValidationError, field_validator, model_validator

from shared.settings import EXIT_CONFIG, SettingsError, describe, load_or_exit


class Example(BaseModel):
    port: int
    url: str = "http://x"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be https\nand absolute")
        return value

    @model_validator(mode="after")
    def _pair(self) -> "Example":
        if self.port == 1:
            raise ValueError("X_PORT and X_URL disagree")
        return self


def problems(**values: object) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        Example.model_validate(values)
    return describe(caught.value, "X_")


def test_every_problem_names_its_variable() -> None:
    assert problems(url="ftp://a") == [
        "X_PORT: is required",
        "X_URL: must be https",
        "X_URL: and absolute",
    ]


def test_model_level_problems_name_their_own_variables() -> None:
    assert problems(port=1, url="https://a") == ["X_PORT and X_URL disagree"]


def test_load_or_exit_prints_each_problem_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    def load() -> None:
        raise SettingsError(["X_A: is required", "X_B: is invalid"])

    with pytest.raises(SystemExit) as caught:
        load_or_exit(load)
    assert caught.value.code == EXIT_CONFIG == 2
    assert capsys.readouterr().err.splitlines() == ["X_A: is required", "X_B: is invalid"]
