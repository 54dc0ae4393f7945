"""Known mistakes and their hints: the `Catalogue` that turns a recognised mistake into feedback.

A `Catalogue` holds misconceptions by key: the built-in ones, worded for any numpy course (a
factor 2, a sign error, transposed shapes, a sum instead of a mean ...), plus a course's own
(`grader.course.config.Course.catalogue`, from ``checks/misconceptions.toml``), where a course
entry replaces the built-in of the same key, so that a course can say a built-in's fix in its
own formulas. A catalogue never changes: extending one gives a new one. Each test's context
carries its course's catalogue (`grader.authoring.context.Context.catalogue`).

The detectors (`grader.authoring.detectors`) recognise a mistake in an output and say what
they observed; `Catalogue.diagnose` and its siblings add the entry's title and hint.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from grader.authoring.detectors import (
    Finding,
    mutation_finding,
    recognise,
    recognise_batches,
    recognise_exception,
)

__all__ = ["BUILTINS", "Catalogue", "Diagnosis", "Misconception"]


@dataclass(frozen=True)
class Misconception:
    """A known mistake and how to fix it.

    Attributes
    ----------
    key : str
        Stable identifier (``"missing_factor_2"``), used in results and summaries.
    title : str
        Short name shown to students and instructors.
    hint : str
        The fix, with the formula that explains it.
    symptom : str, optional
        What an output produced by this mistake looks like, completing "result ...", used when
        a caller-supplied variant matches.
    """

    key: str
    title: str
    hint: str
    symptom: str = ""


@dataclass(frozen=True)
class Diagnosis:
    """A recognised mistake in one output.

    Attributes
    ----------
    key, title : str
        From the catalogue entry.
    message : str
        What the output looks like, then the fix (one or two sentences).
    """

    key: str
    title: str
    message: str


class Catalogue(Mapping[str, Misconception]):
    """Misconceptions by key, and the diagnoses that name them. Immutable.

    Parameters
    ----------
    entries : iterable of Misconception, optional
        The misconceptions, each key once (default: none; `Catalogue.builtin` gives the
        built-in ones).

    Raises
    ------
    ValueError
        If two entries have the same key.
    """

    def __init__(self, entries: Iterable[Misconception] = ()) -> None:
        self._entries: dict[str, Misconception] = {}
        for m in entries:
            if m.key in self._entries:
                raise ValueError(f"misconception {m.key!r} is already registered")
            self._entries[m.key] = m

    @classmethod
    def builtin(cls) -> Catalogue:
        """The built-in misconceptions (`BUILTINS`), in course-neutral words."""
        return cls(BUILTINS)

    def extended(self, entries: Iterable[Misconception], *, replace: bool = False) -> Catalogue:
        """A new catalogue with ``entries`` added (this one is left as it is).

        Parameters
        ----------
        entries : iterable of Misconception
            The entries to add, each key once.
        replace : bool, optional
            Whether an entry replaces one of this catalogue with the same key (a course's own
            wording of a built-in); if False such an entry is an error.

        Raises
        ------
        ValueError
            If a key is taken and ``replace`` is False, or ``entries`` repeat a key.
        """
        added = Catalogue(entries)
        taken = [key for key in added if key in self._entries]
        if taken and not replace:
            raise ValueError(f"misconception {taken[0]!r} is already registered")
        merged = dict(self._entries)  # a replaced entry keeps its place
        merged.update(added)
        return Catalogue(merged.values())

    def __getitem__(self, key: str) -> Misconception:
        return self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __hash__(self) -> int:
        return hash(frozenset(self._entries.items()))

    def __repr__(self) -> str:
        return f"Catalogue({len(self)} misconceptions)"

    # -- diagnoses ---------------------------------------------------------------------------
    def diagnosis(self, key: str, observation: str) -> Diagnosis:
        """A `Diagnosis` for ``key``: the ``observation`` sentence, then the entry's hint.

        Raises
        ------
        KeyError
            If ``key`` is not in the catalogue.
        """
        m = self[key]
        return Diagnosis(m.key, m.title, f"{observation} {m.hint}")

    def named(self, key: str) -> Diagnosis:
        """A `Diagnosis` naming ``key`` with its hint alone (a test recognised the mistake
        itself, by a property of the output).

        Raises
        ------
        KeyError
            If ``key`` is not in the catalogue.
        """
        m = self[key]
        return Diagnosis(m.key, m.title, m.hint)

    def explain(self, finding: Finding | None) -> Diagnosis | None:
        """The diagnosis of a detector's finding (None for None)."""
        return None if finding is None else self.diagnosis(finding.key, finding.observation)

    def diagnose(
        self,
        actual: object,
        expected: object,
        *,
        batch_size: int | None = None,
        variants: Mapping[str, object] | None = None,
        rtol: float = 1e-6,
        atol: float = 1e-9,
        name: str = "result",
    ) -> Diagnosis | None:
        """Name the likely mistake behind a wrong output, or None.

        Parameters
        ----------
        actual : object
            The output under test (array, scalar, or dict/tuple/list of them).
        expected : object
            The correct output.
        batch_size : int, optional
            N, the number of examples; enables the factor-N and 1/N detectors when > 1.
        variants : mapping of str to object, optional
            Catalogue key -> the output that mistake produces on the same inputs (computed by
            the caller), tried before the generic detectors; dict/tuple entries are matched
            per entry (`grader.authoring.detectors.recognise`).
        rtol, atol : float, optional
            Tolerances for "matches" (as in `grader.authoring.compare.compare`).
        name : str, optional
            How the output is called in the message.

        Returns
        -------
        Diagnosis or None
            None when ``actual`` is correct or matches no known mistake. For dicts and tuples
            the first differing entry that matches a mistake is diagnosed and named
            (``result['db']``).

        Raises
        ------
        KeyError
            If a variant's key is not in the catalogue.
        """
        for key in variants or {}:
            if key not in self:
                raise KeyError(f"variant {key!r} is not a catalogued misconception")
        return self.explain(recognise(
            actual, expected, variants=variants or {},
            symptoms={key: self[key].symptom for key in variants or {}},
            batch_size=batch_size, rtol=rtol, atol=atol, name=name))

    def diagnose_batches(self, batches: object, n: int, *,
                         name: str = "result") -> Diagnosis | None:
        """Whether mini-batches of range(n) repeat some examples or leave some out.

        Parameters
        ----------
        batches : object
            What the student returned: a list of index arrays, expected to hold each of
            range(n) exactly once.
        n : int
            The number of examples.
        name : str, optional
            How the batches are called in the message.

        Returns
        -------
        Diagnosis or None
            ``batches_repeat_or_miss`` (`grader.authoring.detectors.recognise_batches`);
            None when every index of range(n) appears exactly once, or ``batches`` is not a
            list of integer arrays (another failure explains that).
        """
        return self.explain(recognise_batches(batches, n, name=name))

    def diagnose_exception(self, exc_type: str, message: str) -> Diagnosis | None:
        """Recognise a mistake from an exception the student's code raised.

        Parameters
        ----------
        exc_type : str
            The exception's class name (``"FloatingPointError"``).
        message : str
            Its message.

        Returns
        -------
        Diagnosis or None
            Overflow for FloatingPointError or an "overflow" message; a shape hint for numpy's
            broadcasting and matmul shape errors; None otherwise, including
            NotImplementedError (the caller reports "not implemented yet").
        """
        return self.explain(recognise_exception(exc_type, message))

    def mutation_diagnosis(self, arg_names: Sequence[str]) -> Diagnosis:
        """The diagnosis for a function that changed its arguments in place.

        Parameters
        ----------
        arg_names : sequence of str
            Names of the modified arguments (may be empty when unknown).
        """
        finding = mutation_finding(arg_names)
        return self.diagnosis(finding.key, finding.observation)


BUILTINS: tuple[Misconception, ...] = (
    Misconception(
        "missing_factor_2", "Missing factor 2",
        "A factor 2 is missing: differentiating a square gives one, d(u^2)/du = 2u, so the "
        "derivative of a squared error carries the 2.", "is half the expected value"),
    Misconception(
        "extra_factor_2", "Extra factor 2",
        "A factor 2 is applied twice: the 2 from differentiating a square, d(u^2)/du = 2u, "
        "belongs in one place only, and the value itself is not doubled.",
        "is twice the expected value"),
    Misconception(
        "sum_instead_of_mean", "Sum instead of mean",
        "A mean over the N examples carries a 1/N, and so does its gradient: divide by N (or "
        "use np.mean) exactly once.", "is N times the expected value"),
    Misconception(
        "mean_instead_of_sum", "Mean instead of sum",
        "Divide by N exactly once: once a gradient holds the 1/N of a mean, the later sums "
        "over the batch are sums, not means.", "is the expected value divided by N"),
    Misconception(
        "scaled_by_constant", "Off by a constant factor",
        "Every entry is the expected one times the same constant, so the formula is right up to "
        "a factor applied twice or not at all: the 2 of a square, the 1/N of a mean, a step "
        "size eps or a learning rate, a sign. Find where that constant enters and apply it "
        "exactly once.", "is a constant multiple of the expected value"),
    Misconception(
        "batches_repeat_or_miss", "Examples repeated or left out",
        "Each pass over the data uses every example exactly once: shuffle the indices once with "
        "rng.permutation(n) and cut that permutation into consecutive slices. Drawing indices "
        "with rng.integers or rng.choice (with replacement) repeats some examples and misses "
        "others.", "repeats some examples and leaves others out"),
    Misconception(
        "sign_error", "Sign error",
        "Check the sign of each term: a difference taken the other way round (b - a instead of "
        "a - b), or a minus sign dropped or added.",
        "has the opposite sign of the expected value"),
    Misconception(
        "transposed", "Transposed gradient",
        "A gradient has the shape of what it differentiates: check which factor of each matrix "
        "product is transposed, and compare the result's shape with that of the array it "
        "belongs to.", "is the transpose of the expected array"),
    Misconception(
        "activation_instead_of_derivative", "Activation instead of its derivative",
        "Backpropagation through an activation f multiplies by its derivative, not by the "
        "activation itself: dZ = dA * f'(Z).",
        "is what the activation itself gives where its derivative belongs"),
    Misconception(
        "bias_not_summed", "Bias gradient not summed over the batch",
        "The bias is shared by all examples, so its gradient sums over the batch: "
        "db = sum over the batch of dZ (dZ.sum(axis=0)), with the shape of b.",
        "has one row per example instead of their sum"),
    Misconception(
        "broadcast_column", "(N,) and (N, 1) mixed up",
        "An (N,) array combined with an (N, 1) one broadcasts to (N, N). Keep vectors 1-D "
        "(.ravel() or .reshape(-1)) or use (N, 1) throughout, and check each intermediate shape.",
        "has a length-1 axis too many or too few"),
    Misconception(
        "overflow", "Overflow in exp",
        "np.exp overflows for large inputs (np.exp(710.0) is inf): rewrite the formula so that "
        "exp only sees arguments <= 0, for example by subtracting the largest value first.",
        "contains NaN or inf"),
    Misconception(
        "modified_input", "Input modified in place",
        "Work on a copy: x = x.copy(), or build new arrays (y = x * 2, not x *= 2); +=, "
        "x[...] = and out= write into the caller's array.", "changed its input"),
    Misconception(
        "returned_none", "Nothing returned",
        "End the function with `return <result>`: a function without a return statement "
        "returns None.", "is None"),
    Misconception(
        "wrong_dtype", "Wrong dtype",
        "Use float64: create arrays with dtype=np.float64 (np.zeros_like of an integer array "
        "is an integer array) and avoid astype(np.float32) and integer division.",
        "has the wrong dtype"),
    Misconception(
        "output_aliases_input", "Output shares memory with the input",
        "Return a new array, not the input or a view of it: compute a new result "
        "(np.maximum(x, 0)) or return x.copy().", "shares memory with the input"),
    Misconception(
        "shape_mismatch", "Shapes do not line up",
        "Write the shape next to each array and check each operation: a matmul needs equal "
        "inner dimensions, so a missing or extra .T is the usual cause.",
        "has the wrong shape"),
)
"""The built-in misconceptions, worded for any numpy course; a course rewords one by giving
an entry of the same key in its own file."""
