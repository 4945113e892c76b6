-- Lease hand-over (issue 11): an operator tool that needs a mailbox a replica holds (a push
-- mailbox's IDLE loop keeps its lease for as long as the replica runs) asks for it here. The
-- holder notices between two IDLEs or two batches, ends its run, and gives the lease to the
-- requester in the same UPDATE that would have released it, with a new generation, so no other
-- replica can take the mailbox in between and the two never read it at once. A request that is
-- not answered before handover_until is ignored (its tool gave up or died).
ALTER TABLE mailbox_schedule
    ADD COLUMN handover_to            text,
    ADD COLUMN handover_until         timestamptz,
    ADD COLUMN handover_lease_seconds double precision;
