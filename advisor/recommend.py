"""``from advisor.recommend import Advisor``, the import path earlier READMEs documented; the
class lives in :mod:`advisor.recommender.advisor`."""

from advisor.recommender.advisor import Advisor

__all__ = ["Advisor"]
