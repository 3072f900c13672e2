"""One form for every command-line error: ``hwrag: error: <cause>`` on the first line of stderr, exit 2
(docs/DESIGN.md § Conventions)."""
import pytest
from hwrag.cli import main
from ivfpq.errors import CommandParser, HwragError, run_command


def _first_stderr_line(capsys) -> str:
    return capsys.readouterr().err.splitlines()[0]


def test_a_bad_flag_names_the_command_and_the_cause_before_the_usage(capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "service", "--modes", "remote"])
    assert e.value.code == 2
    assert _first_stderr_line(capsys) == ("hwrag: error: bench service: argument --modes: invalid choice: 'remote' "
                                          "(choose from 'process', 'local')")


def test_a_user_mistake_is_one_line_and_exit_2(capsys):
    assert main(["dataset", "info", "no-such-dataset:"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwrag: error: unknown dataset 'no-such-dataset:'") and "Traceback" not in err


def test_python_m_front_ends_speak_the_same_form(capsys):
    p = CommandParser(prog="python -m bench.service_bench")
    p.add_argument("--n", type=int)
    with pytest.raises(SystemExit):
        p.parse_args(["--n", "x"])
    assert _first_stderr_line(capsys) == "hwrag: error: argument --n: invalid int value: 'x'"

    def body():
        raise HwragError("--requests 0; accepted: >= 1")

    assert run_command(body) == 2
    assert _first_stderr_line(capsys) == "hwrag: error: --requests 0; accepted: >= 1"
