"""Raw records to staging rows plus rejects. Pure: standard library and pandas only, no clock."""
