"""Path paging of a newest-first listing that cannot step over a record (invariant 9).

Unleashed lists ``LastModifiedOn`` descending and pages by number in the path; its only lower
bound (``modifiedSince``) cannot ask for "older than", so keyset paging is impossible there.
What shifts a newest-first listing during a crawl (docs/apis.md §3.3):

- a new or edited record goes to position 0: everything before its old place shifts one slot
  *right* (a repeat on the next page, harmless; the edited record's new version is newer than
  anything this pass can read, so the next run's cursor reaches it);
- a deleted record (Unleashed deletes Parked free credits without a trace) shifts everything
  after it one slot *left*: the first record of the next page slides onto a page already read
  and would be skipped for good.

An edit is a removal plus an insert at the front, so between two responses the largest left
shift anywhere is the drop in ``NumberOfItems`` (at most the number of deletions). When the
count falls by ``d`` the pass steps back ``ceil(d / page_size)`` pages and reads forward again
(repeats are absorbed by the upsert); when it does not fall, nothing can have been skipped.
:class:`ShiftGuard` holds that rule; the client only fetches what it asks.
"""

from connector.errors import ContractError


class ShiftGuard:
    """Decides the next page of a newest-first path-paged pass and when it ends.

    Args:
        page_size: the page size every request sends.
        system: source name for errors.
        endpoint: endpoint name for errors.
        max_step_backs: how many step-backs a pass may take before it gives up (records keep
            being deleted under it); the caller's cursor then stays where it was.
    """

    def __init__(
        self, page_size: int, *, system: str, endpoint: str, max_step_backs: int = 50
    ) -> None:
        self.page_size = page_size
        self._system, self._endpoint = system, endpoint
        self._max_step_backs = max_step_backs
        self._page = 1
        self._count: int | None = None
        self._done = False
        self.step_backs = 0
        self.requests = 0
        self.stop_reason = ""

    def next_page(self) -> int | None:
        """The page number to ask next, or None once the pass is complete."""
        if self._done:
            return None
        self.requests += 1
        return self._page

    def receive(self, items: int, number_of_items: int, number_of_pages: int) -> None:
        """Take the counts of the response to the last request.

        Raises:
            ContractError: records kept being deleted faster than the pass could step back.
        """
        dropped = 0 if self._count is None else self._count - number_of_items
        self._count = number_of_items
        if dropped > 0:
            back = -(-dropped // self.page_size)
            if self.step_backs >= self._max_step_backs:
                raise ContractError(
                    self._system,
                    self._endpoint,
                    f"records kept disappearing during the crawl ({self.step_backs} step-backs);"
                    " the cursor stays where it was, run again",
                )
            self.step_backs += 1
            self._page = max(1, self._page - back)
            return
        if items == 0:
            self._finish(f"an empty page {self._page}")
        elif self._page >= number_of_pages:
            self._finish(f"page {self._page} of NumberOfPages {number_of_pages}")
        else:
            self._page += 1

    def _finish(self, why: str) -> None:
        self._done = True
        self.stop_reason = why
