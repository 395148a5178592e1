from tests.unit.localfleet.fakes import fake_fleet

__all__ = ["fake_fleet"]
