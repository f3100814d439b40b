"""mgrid.reputation.v1.Query: params, a participant's score and history, the ranking."""

from __future__ import annotations

from app.kv import KV
from app.modules.common import page, parse_address
from app.modules.reputation import keeper
from app.pb.mgrid.reputation.v1 import reputation_pb2


class Queries:
    def Params(
        self, kv: KV, req: reputation_pb2.QueryParamsRequest
    ) -> reputation_pb2.QueryParamsResponse:
        return reputation_pb2.QueryParamsResponse(params=keeper.PARAMS.proto(kv))

    def Score(
        self, kv: KV, req: reputation_pb2.QueryScoreRequest
    ) -> reputation_pb2.QueryScoreResponse:
        address = parse_address(req.participant, "participant")
        return reputation_pb2.QueryScoreResponse(
            score=keeper.get_score(kv, address), rank=keeper.rank_of(kv, address)
        )

    def History(
        self, kv: KV, req: reputation_pb2.QueryHistoryRequest
    ) -> reputation_pb2.QueryHistoryResponse:
        address = parse_address(req.participant, "participant")
        entries, next_key = page(kv, keeper.HISTORY + address, req.page_key, req.limit)
        return reputation_pb2.QueryHistoryResponse(
            entries=[reputation_pb2.HistoryEntry.FromString(v) for _, v in entries],
            next_key=next_key,
        )

    def Ranking(
        self, kv: KV, req: reputation_pb2.QueryRankingRequest
    ) -> reputation_pb2.QueryRankingResponse:
        entries, next_key = page(kv, keeper.RANKING, req.page_key, req.limit)
        scores = []
        for key, _ in entries:
            score = keeper.stored_score(kv, key[len(keeper.RANKING) + 4 :])
            assert score is not None, "ranking entry without a score"
            scores.append(score)
        return reputation_pb2.QueryRankingResponse(scores=scores, next_key=next_key)
