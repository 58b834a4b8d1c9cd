"""Matrix calculus: the loss as written, as an array graph (:mod:`~diffcmp.matcalc.graph`), its
vector-Jacobian rules (:mod:`~diffcmp.matcalc.rules`), the vectorised symbolic gradient they give
(:mod:`~diffcmp.matcalc.derive`), printed as formulas (:mod:`~diffcmp.matcalc.printer`) and
evaluated over any backend, with a bound on its float64 rounding
(:mod:`~diffcmp.matcalc.evaluate`)."""
