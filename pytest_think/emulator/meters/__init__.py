"""meters"""
